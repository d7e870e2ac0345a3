"""bulwark-proxy against real etcd and real PostgreSQL: routing follows the cluster data (written here by the
test, as the sentinel would), connections to a master that lost the election are closed, reads spread over
standbys, a store outage longer than proxyTimeout fences the proxy, and misbehaving clients hurt nobody else.
New connections are held while there is no master and refused past the hold's bounds (time and count); a
fenced proxy refuses them rather than hold them, and closes the held ones.
The proxy runs its default number of forwarding threads (one per CPU) unless a test says otherwise; the
master-change tests also run with --threads 1 and check that connections spread over several threads are all
closed before the new generation is acknowledged.
"""
import re
import json
import os
import resource
import signal
import socket
import subprocess
import time

import psycopg
import pytest

from etcd_fixture import BUILD, free_ports
from keeper_fixture import wait_for
from pg_server import PgTrio

PROXY = os.path.join(BUILD, "bin", "bulwark-proxy")
CTL = os.path.join(BUILD, "bin", "bulwarkctl")
STORE_TOOL = os.path.join(BUILD, "tools", "store_tool")
CLUSTER = "pc"
PROXY_UID = "proxy1"


@pytest.fixture(scope="module")
def trio():
    t = PgTrio(settings={"max_connections": "1300"})
    try:
        t.start()
        yield t
    finally:
        t.cleanup()


class ProxyProc:
    def __init__(self, etcd, extra=(), uid=PROXY_UID):
        self.port, self.ro_port, self.http_port = free_ports(3)
        self.uid = uid
        self.log_path = f"/tmp/bulwark-proxy-{self.port}.log"
        self.log = open(self.log_path, "w")
        argv = [PROXY, "--cluster-name", CLUSTER, "--store-endpoints", etcd.endpoints, "--uid", uid,
                "--listen-address", "127.0.0.1", "--port", str(self.port), "--ro-port", str(self.ro_port),
                "--http-listen-address", f"127.0.0.1:{self.http_port}", "--store-timeout", "1s", *extra]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def connect(self, ro=False, timeout=5):
        return psycopg.connect(host="127.0.0.1", port=self.ro_port if ro else self.port, user="postgres",
                               dbname="postgres", connect_timeout=timeout, autocommit=True)


@pytest.fixture
def proxy_factory(etcd):
    procs = []

    def make(extra=(), uid=PROXY_UID):
        p = ProxyProc(etcd, extra, uid)
        procs.append(p)
        return p
    yield make
    for p in procs:
        p.stop()
        if os.environ.get("BULWARK_TEST_KEEP_LOGS") is None:
            os.unlink(p.log_path)


def write_cd(etcd, trio, master, ro=(), enabled=(PROXY_UID,), generation=1, spec=None):
    """Write cluster data routing the proxies: master and ro are indexes into trio.all() (None = no master)."""
    now = "2026-01-01T00:00:00.000Z"
    dbs = {}
    for i, s in enumerate(trio.all()):
        dbs[f"db{i}"] = {"generation": 1, "changeTime": now,
                         "spec": {"keeperUID": f"k{i}", "role": "master" if i == master else "standby"},
                         "status": {"listenAddress": "127.0.0.1", "port": s.port, "healthy": True}}
    cd = {"formatVersion": 1, "changeTime": now,
          "cluster": {"uid": "c0ffee01", "generation": 1, "changeTime": now,
                      "spec": spec or {"initMode": "new", "proxyTimeout": "3s", "proxyCheckInterval": "1s"},
                      "status": {"phase": "normal", "master": f"db{master}" if master is not None else "",
                                 "currentGeneration": 1}},
          "keepers": {}, "dbs": dbs,
          "proxy": {"generation": generation, "changeTime": now,
                    "spec": {"masterDbUid": f"db{master}" if master is not None else "",
                             "enabledProxies": sorted(enabled), "roDbUids": [f"db{i}" for i in ro]}}}
    r = subprocess.run([CTL, "--cluster-name", CLUSTER, "--store-endpoints", etcd.endpoints, "clusterdata", "write",
                        "--yes", "-f", "-"], input=json.dumps(cd), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def server_port(conn):
    return conn.execute("select inet_server_port()").fetchone()[0]


def wait_closed(conn, timeout=5.0):
    """Seconds until conn is found closed by the proxy; fails after timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            conn.execute("select 1")
        except psycopg.OperationalError:
            return time.monotonic() - t0
        time.sleep(0.02)
    raise AssertionError("the connection stayed open")


def proxy_report(etcd, uid=PROXY_UID):
    r = subprocess.run([STORE_TOOL, "--endpoints", etcd.endpoints, "get", f"/bulwark/{CLUSTER}/proxies/{uid}"],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return None
    # store_tool prints KEY VALUE MOD_REV
    return json.loads(r.stdout.strip().split(" ", 1)[1].rsplit(" ", 1)[0])


def test_rw_port_reaches_master_and_report_acknowledges_generation(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=0, generation=3)
    p = proxy_factory()
    with wait_for(lambda: p.connect(), timeout=10, what="the proxy to route") as conn:
        assert conn.execute("select pg_is_in_recovery()").fetchone()[0] is False
        assert server_port(conn) == trio.primary.port
    rep = wait_for(lambda: (proxy_report(etcd) or {}).get("generation") == 3 and proxy_report(etcd),
                   timeout=10, what="the proxy report")
    assert rep["uid"] == PROXY_UID and rep["proxyTimeout"] == "3s"


def metrics(p):
    return subprocess.run(["curl", "-s", f"http://127.0.0.1:{p.http_port}/metrics"], capture_output=True,
                          text=True, timeout=10).stdout


def worker_connections(p):
    """{worker index: open connections} from /metrics (each worker refreshes its figures every 100 ms)."""
    return {int(w): int(n) for w, n in re.findall(r'bulwark_proxy_worker_connections\{worker="(\d+)"\} (\d+)', metrics(p))}


@pytest.mark.parametrize("threads", ["1", "2"])
def test_master_change_closes_rw_connections_and_routes_new_ones(etcd, trio, proxy_factory, threads):
    write_cd(etcd, trio, master=0, generation=1)
    p = proxy_factory(extra=("--threads", threads, "--hold-timeout", "0"))
    conn = wait_for(lambda: p.connect(), timeout=10, what="the proxy to route")
    assert server_port(conn) == trio.primary.port

    # "no master" first, as the sentinel publishes it: the open connection is closed at once
    write_cd(etcd, trio, master=None, generation=2)
    closed_after = wait_closed(conn)
    assert closed_after < 3.0, closed_after      # through the watch, well before the 3 s proxyTimeout
    with pytest.raises(psycopg.OperationalError):
        p.connect(timeout=2)                      # no master, --hold-timeout 0: refused at once

    write_cd(etcd, trio, master=1, generation=3)
    conn2 = wait_for(lambda: p.connect(), timeout=10, what="routing to the new master")
    assert server_port(conn2) == trio.standbys[0].port
    conn2.close()
    wait_for(lambda: (proxy_report(etcd) or {}).get("generation") == 3, timeout=10, what="generation 3 acknowledged")


def test_threads_spread_rw_connections_and_a_master_change_closes_all_before_the_ack(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=0, generation=1)
    p = proxy_factory(extra=("--threads", "2"))
    conns = [wait_for(lambda: p.connect(), timeout=10, what="the proxy to route")]
    # the kernel hashes connections over the two threads' SO_REUSEPORT sockets: open until both hold some
    spread = {}
    while len(conns) < 8 or (len(spread) < 2 and len(conns) < 40):
        conns.append(p.connect())
        spread = wait_for(lambda: (lambda w: sum(w.values()) == len(conns) and w)(worker_connections(p)),
                          timeout=5, what="the per-thread connection counts")
        spread = {w: n for w, n in spread.items() if n > 0}
    assert len(spread) == 2, spread
    assert all(server_port(c) == trio.primary.port for c in conns)

    # "no master": the report may acknowledge generation 2 only once both threads have closed their connections
    write_cd(etcd, trio, master=None, generation=2)
    wait_for(lambda: (proxy_report(etcd) or {}).get("generation") == 2, timeout=10, what="generation 2 acknowledged")
    for c in conns:
        with pytest.raises(psycopg.OperationalError):
            c.execute("select 1")      # already closed when the acknowledgement was visible: no waiting
        c.close()
    assert wait_for(lambda: (lambda w: sum(w.values()) == 0 and w)(worker_connections(p)), timeout=5,
                    what="every thread at 0 connections") == {0: 0, 1: 0}
    assert f"bulwark_proxy_closed_by_route_change_total {len(conns)}" in metrics(p)


def test_proxy_not_enabled_routes_no_writes(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=0, enabled=("someoneelse",))
    p = proxy_factory()
    time.sleep(1.5)
    with pytest.raises(psycopg.OperationalError):
        p.connect(timeout=2)
    assert "not enabled" in p.logs()


def test_ro_connections_spread_over_standbys_and_never_reach_master(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=0, ro=(1, 2))
    p = proxy_factory()
    wait_for(lambda: p.connect(ro=True), timeout=10, what="the read-only port").close()
    conns = [p.connect(ro=True) for _ in range(10)]
    ports = [server_port(c) for c in conns]
    assert trio.primary.port not in ports
    assert ports.count(trio.standbys[0].port) == 5 and ports.count(trio.standbys[1].port) == 5
    assert all(c.execute("select pg_is_in_recovery()").fetchone()[0] for c in conns)

    # a standby leaving the set loses its connections; the others stay
    write_cd(etcd, trio, master=0, ro=(2,), generation=2)
    time.sleep(1.0)
    alive = []
    for c, port in zip(conns, ports):
        try:
            c.execute("select 1")
            alive.append(port)
        except psycopg.OperationalError:
            pass
    assert alive == [trio.standbys[1].port] * 5
    for c in conns:
        c.close()


def test_ro_falls_back_to_master_unless_disabled(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=0, ro=())
    p = proxy_factory()
    with wait_for(lambda: p.connect(ro=True), timeout=10, what="ro fallback") as c:
        assert server_port(c) == trio.primary.port
    q = proxy_factory(extra=("--ro-fallback", "none"), uid="proxy2")
    write_cd(etcd, trio, master=0, ro=(), enabled=(PROXY_UID, "proxy2"), generation=2)
    wait_for(lambda: q.connect(), timeout=10, what="proxy2 rw").close()
    with pytest.raises(psycopg.OperationalError):
        q.connect(ro=True, timeout=2)


def test_hold_timeout_forwards_when_master_appears(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=None)
    p = proxy_factory(extra=("--hold-timeout", "5s"))
    time.sleep(1.5)
    result = {}

    def connect_later():
        result["conn"] = p.connect(timeout=10)

    import threading
    t = threading.Thread(target=connect_later)
    t.start()
    time.sleep(1.0)
    write_cd(etcd, trio, master=0, generation=2)
    t.join(15)
    conn = result.get("conn")
    assert conn is not None
    assert server_port(conn) == trio.primary.port
    conn.close()


def hold_metric(p, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", metrics(p), re.M)
    return float(m.group(1)) if m else None


def wait_listening(etcd, generation=1):
    """Until the proxy has applied (and acknowledged) that generation: it listens, and routes by it."""
    wait_for(lambda: (proxy_report(etcd) or {}).get("generation") == generation, timeout=10,
             what=f"generation {generation} acknowledged")


def raw_connect(p):
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    s.settimeout(10)
    return s


def closed_by_proxy_within(s, seconds):
    s.settimeout(seconds)
    try:
        return closed_by_proxy(s)
    finally:
        s.settimeout(10)


def closed_by_proxy(s):
    """True when the proxy closes s (EOF or reset) within the socket's timeout; False when it stays open."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_held_beyond_the_hold_timeout_are_refused(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=None)
    p = proxy_factory(extra=("--hold-timeout", "1s"))
    wait_listening(etcd)
    s = raw_connect(p)
    assert closed_by_proxy(s)
    s.close()
    wait_for(lambda: hold_metric(p, 'bulwark_proxy_hold_refused_total{port="rw",reason="timeout"}') == 1, timeout=5,
             what="the refusal counted")
    assert hold_metric(p, 'bulwark_proxy_hold_wait_seconds_count{outcome="refused"}') == 1
    assert hold_metric(p, "bulwark_proxy_hold_wait_max_seconds") >= 1.0
    assert hold_metric(p, 'bulwark_proxy_held_connections{port="rw"}') == 0


def test_held_beyond_max_held_connections_are_refused_and_the_held_ones_reach_the_master(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=None)
    p = proxy_factory(extra=("--hold-timeout", "60s", "--max-held-connections", "2"))
    wait_listening(etcd)
    results = []

    def connect_held():
        try:
            results.append(server_port(p.connect(timeout=60)))
        except psycopg.Error as e:
            results.append(e)
    import threading
    held = [threading.Thread(target=connect_held) for _ in range(2)]
    for t in held:
        t.start()
    wait_for(lambda: hold_metric(p, 'bulwark_proxy_held_connections{port="rw"}') == 2, timeout=10,
             what="two connections held")
    third = raw_connect(p)
    assert closed_by_proxy(third)                  # refused at once, while the hold timeout is 60 s
    third.close()
    wait_for(lambda: hold_metric(p, 'bulwark_proxy_hold_refused_total{port="rw",reason="limit"}') == 1, timeout=5,
             what="the refusal counted")
    write_cd(etcd, trio, master=0, generation=2)
    for t in held:
        t.join(30)
    assert results == [trio.primary.port, trio.primary.port]
    wait_for(lambda: hold_metric(p, 'bulwark_proxy_hold_wait_seconds_count{outcome="forwarded"}') == 2, timeout=5,
             what="two held connections forwarded")


def health(p):
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{p.http_port}/health"],
                          capture_output=True, text=True, timeout=10).stdout


def test_fenced_proxy_refuses_rather_than_holds_and_closes_held_ones(etcd, trio, proxy_factory):
    # --stop-listening=false: the fenced proxy still accepts, so what it does with a connection shows. One
    # thread: /health is 503 as soon as one thread has fenced, and each fences on its own 100 ms tick.
    write_cd(etcd, trio, master=None)
    p = proxy_factory(extra=("--hold-timeout", "60s", "--stop-listening=false", "--threads", "1"))
    wait_listening(etcd)
    held = raw_connect(p)
    assert not closed_by_proxy_within(held, 0.5)   # held: no master yet
    member = etcd.members[0]
    os.kill(member.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: health(p) == "503", timeout=15, what="the proxy fenced")
        s = raw_connect(p)
        assert closed_by_proxy(s)                  # refused, not held for 60 s
        s.close()
        assert closed_by_proxy(held)               # and fencing closed the held one
    finally:
        os.kill(member.pid, signal.SIGCONT)
    held.close()
    # the thread's figures for /metrics are refreshed on its 100 ms tick
    wait_for(lambda: hold_metric(p, 'bulwark_proxy_hold_wait_seconds_count{outcome="closed"}') == 1, timeout=5,
             what="the held connection closed by the fence in /metrics")
    assert hold_metric(p, 'bulwark_proxy_held_total{port="rw"}') == 1


def test_store_outage_shorter_than_timeout_keeps_connections_longer_fences(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=0)
    p = proxy_factory()
    conn = wait_for(lambda: p.connect(), timeout=10, what="routing")
    member = etcd.members[0]

    os.kill(member.pid, signal.SIGSTOP)
    try:
        time.sleep(1.5)                          # shorter than proxyTimeout (3s)
    finally:
        os.kill(member.pid, signal.SIGCONT)
    assert conn.execute("select 1").fetchone()[0] == 1

    os.kill(member.pid, signal.SIGSTOP)
    try:
        time.sleep(5.0)                          # longer: every connection closed, the port stops listening
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 1")
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
        health = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                 f"http://127.0.0.1:{p.http_port}/health"], capture_output=True, text=True)
        assert health.stdout == "503"
    finally:
        os.kill(member.pid, signal.SIGCONT)
    conn2 = wait_for(lambda: p.connect(), timeout=15, what="the proxy to come back")
    assert server_port(conn2) == trio.primary.port
    conn2.close()
    assert "fencing" in p.logs()


def test_garbage_and_abrupt_disconnects_do_not_disturb_others(etcd, trio, proxy_factory):
    write_cd(etcd, trio, master=0)
    p = proxy_factory()
    good = wait_for(lambda: p.connect(), timeout=10, what="routing")
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        if i % 2:
            s.sendall(os.urandom(5000))
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        s.close()
    assert good.execute("select count(*) from pg_class").fetchone()[0] > 0
    good.close()
    assert p.proc.poll() is None


def test_thousand_idle_connections_plus_live_queries(etcd, trio, proxy_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    write_cd(etcd, trio, master=0)
    p = proxy_factory()
    wait_for(lambda: p.connect(), timeout=10, what="routing").close()
    idle = []
    try:
        for _ in range(1000):
            idle.append(socket.create_connection(("127.0.0.1", p.port), timeout=10))
        metrics = wait_for(lambda: (lambda m: 'bulwark_proxy_connections{port="rw"} 1000' in m and m)(
            subprocess.run(["curl", "-s", f"http://127.0.0.1:{p.http_port}/metrics"], capture_output=True,
                           text=True).stdout), timeout=10, what="1000 connections in the metrics")
        assert "bulwark_proxy_accepted_total" in metrics
        for _ in range(20):
            with p.connect() as c:
                assert c.execute("select 42").fetchone()[0] == 42
    finally:
        for s in idle:
            s.close()
