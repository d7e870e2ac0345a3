"""A client that reconnects at once, as psql's reset or a pool's retry does, through bulwark-proxy on a whole
cluster on loopback (LocalCluster, default proxy flags): its connection is cut by a master's death, by a
switchover, or by the death of the only standby behind the read-only port, and its very next connection
attempt succeeds (no error: the proxy holds it while there is no target) and its first query runs on the new
master (or the replacement standby). Each test fails with --hold-timeout 0, the old default, where the proxy
refuses the reconnect.
"""
import re
import threading
import time
import urllib.request

import psycopg

from keeper_fixture import SU_PASSWORD, KeeperProc, wait_for

FAST = {"initMode": "new", "sleepInterval": "1s", "failInterval": "3s"}
RECONNECT_TIMEOUT = 60          # libpq's connect_timeout: longer than any hold, so only the proxy can refuse


def connect(port, timeout=RECONNECT_TIMEOUT):
    return psycopg.connect(host="127.0.0.1", port=port, user="postgres", password=SU_PASSWORD, dbname="postgres",
                           connect_timeout=timeout, autocommit=True)


def wait_cut(conn, timeout=60, what="the connection to be cut"):
    """Runs `select 1` on conn until it fails (the connection was cut); fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn.execute("select 1")
        except psycopg.OperationalError:
            conn.close()
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def metric(proxy, name):
    """The value of one sample of the proxy's /metrics (name with its labels), 0 when absent."""
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def where(conn):
    return conn.execute("select pg_is_in_recovery(), inet_server_port()").fetchone()


def test_client_cut_by_master_death_reconnects_at_once_and_first_query_runs_on_new_master(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    proxy = lc.proxies[0]
    old = lc.master_keeper()
    conn = connect(proxy.port)
    conn.execute("create table t (id int primary key)")
    assert where(conn) == (False, old.pg_port)

    lc.kill_host(old)
    wait_cut(conn, what="the master's death to cut the client's connection")
    t0 = time.monotonic()
    try:
        conn = connect(proxy.port)          # at once, as psql's "Attempting reset"
    except psycopg.OperationalError as e:
        raise AssertionError(f"the reconnect right after the master's death failed: {e}\n{lc.logs()}") from None
    in_recovery, port = where(conn)
    conn.execute("insert into t values (1)")
    print(f"reconnected after {time.monotonic() - t0:.2f} s to port {port}")
    new = lc.master_keeper()
    assert new is not old and (in_recovery, port) == (False, new.pg_port)
    conn.close()
    # each forwarding thread refreshes its figures for /metrics on its 100 ms tick
    wait_for(lambda: metric(proxy, 'bulwark_proxy_hold_wait_seconds_count{outcome="forwarded"}') >= 1, 5,
             "the held connection's wait in /metrics")
    assert metric(proxy, 'bulwark_proxy_hold_refused_total{port="rw",reason="timeout"}') == 0


def test_client_cut_by_switchover_reconnects_at_once_and_first_query_runs_on_new_master(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    proxy = lc.proxies[0]
    old = lc.master_keeper()
    conn = connect(proxy.port)
    assert where(conn) == (False, old.pg_port)

    result = {}
    switchover = threading.Thread(target=lambda: result.update(r=lc.ctl("switchover", "--wait", check=False,
                                                                         timeout=120)))
    switchover.start()
    try:
        wait_cut(conn, what="the switchover to cut the client's connection")
        try:
            conn = connect(proxy.port)
        except psycopg.OperationalError as e:
            raise AssertionError(f"the reconnect during the switchover failed: {e}\n{lc.logs()}") from None
        in_recovery, port = where(conn)
        conn.close()
    finally:
        switchover.join(130)
    r = result["r"]
    assert r.returncode == 0, r.stdout + r.stderr
    new = lc.master_keeper()
    assert new is not old and (in_recovery, port) == (False, new.pg_port)
    wait_for(lambda: metric(proxy, 'bulwark_proxy_held_total{port="rw"}') >= 1, 5, "the held connection in /metrics")


def test_ro_client_cut_by_its_only_standby_death_reconnects_at_once_to_the_replacement(cluster_factory):
    # --ro-fallback none: with an empty read-only set reads are held, not sent to the master. A new standby
    # takes a base backup before it serves reads, longer than a failover: hold up to 60 s.
    lc = cluster_factory(spec=FAST, keepers=2, proxy_args=("--ro-fallback", "none", "--hold-timeout", "60s"))
    lc.wait_healthy(standbys=1)
    proxy = lc.proxies[0]
    standby = next(k for k in lc.keepers if k is not lc.master_keeper())
    conn = connect(proxy.ro_port)
    assert where(conn) == (True, standby.pg_port)

    lc.kill_host(standby)
    wait_cut(conn, what="the standby's death to cut the client's read-only connection")
    replacement = KeeperProc(lc.ws, lc.etcd, "keeper2", cluster=lc.cluster, run_as=lc.run_as)
    lc.keepers.append(replacement)
    result = {}

    def reconnect():
        try:
            c = connect(proxy.ro_port, timeout=120)
            result["where"] = where(c)
            c.close()
        except psycopg.Error as e:
            result["error"] = e
    client = threading.Thread(target=reconnect)
    client.start()                          # at once, before the replacement exists
    wait_for(lambda: metric(proxy, 'bulwark_proxy_held_connections{port="ro"}') == 1 or "error" in result, 10,
             "the read-only reconnect to be held")
    replacement.start()
    client.join(150)
    assert "error" not in result, f"the read-only reconnect failed: {result.get('error')}\n{lc.logs()}"
    assert result["where"] == (True, replacement.pg_port)
