"""Operator actions on a whole cluster on loopback (LocalCluster): a planned switchover under a write load that
loses no acknowledged write, to a named keeper, and one that cannot catch up and aborts; maintenance mode
(pause: a dead master is not replaced; resume: the failover happens); failkeeper; removekeeper's refusals;
status --json showing the pause and the leader and validating against docs/status.schema.json on a running
cluster; status --watch; history listing a switchover's steps in order.
"""
import json
import os
import statistics
import threading
import time

import jsonschema
import psycopg
import pytest

from etcd_fixture import REPO
from keeper_fixture import wait_for

FAST = {"initMode": "new", "sleepInterval": "1s", "failInterval": "3s"}


class Writer:
    """Inserts increasing ids through the proxy, reconnecting on errors; remembers every acknowledged id and when."""

    def __init__(self, lc):
        self.lc = lc
        self.acked = []
        self.ack_times = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        n = 0
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self.lc.proxy_connect(timeout=1)
                n += 1
                conn.execute("insert into w values (%s)", (n,))
                self.acked.append(n)
                self.ack_times.append(time.monotonic())
            except psycopg.Error:
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg.Error:
                        pass
                conn = None
                time.sleep(0.02)
        if conn is not None:
            conn.close()

    def longest_gap(self, since):
        times = [t for t in self.ack_times if t >= since]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


with open(os.path.join(REPO, "docs", "status.schema.json")) as _f:
    STATUS_SCHEMA = json.load(_f)


def status_json(lc):
    """bulwarkctl status --json, validated against its documented schema."""
    st = json.loads(lc.ctl("status", "--json").stdout)
    jsonschema.validate(st, STATUS_SCHEMA, cls=jsonschema.Draft202012Validator)
    return st


def events_of(lc, event_id):
    return [e for e in lc.history() or [] if e.get("eventId") == event_id]


def test_switchover_under_write_load_loses_no_acknowledged_write_and_old_master_rejoins(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    old_uid, _ = lc.master_db()
    old = lc.master_keeper()
    with lc.proxy_connect() as c:
        c.execute("create table w (id int primary key)")
    with Writer(lc) as w:
        time.sleep(1.0)
        start = time.monotonic()
        r = lc.ctl("switchover", "--wait", check=False, timeout=90)
        done = time.monotonic()
        time.sleep(1.0)
    assert r.returncode == 0, r.stdout + r.stderr + lc.logs()
    new_uid, _ = lc.master_db()
    assert new_uid != old_uid
    gap = w.longest_gap(start - 0.5)
    print(f"switchover: command took {done - start:.2f} s, longest write gap through the proxy {gap:.2f} s, "
          f"{len(w.acked)} writes acknowledged")
    # no acknowledged write lost
    with lc.proxy_connect() as c:
        rows = {r[0] for r in c.execute("select id from w").fetchall()}
    missing = [i for i in w.acked if i not in rows]
    assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:10]}"
    # the old master rejoins as a standby
    lc.wait_healthy(standbys=2, timeout=90)
    wait_for(lambda: old.psql("select pg_is_in_recovery()", check=False) == "t", 30, "the old master in recovery")
    # history: one event id, the steps in order
    started = [e for e in lc.history() if e["kind"] == "switchover_started"]
    assert started
    kinds = [e["kind"] for e in events_of(lc, started[-1]["eventId"])]
    assert kinds[:4] == ["switchover_started", "switchover_demoting", "switchover_catching_up", "master_elected"], kinds
    assert "proxies_routed" in kinds


def test_switchover_to_a_named_keeper_then_status_and_history(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    old_uid, _ = lc.master_db()
    target = next(db["spec"]["keeperUID"] for db in lc.standby_dbs().values())
    r = lc.ctl("switchover", "--to", target, "--wait", check=False, timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr + lc.logs()
    assert lc.master_keeper().uid == target
    with lc.proxy_connect() as c:
        assert c.execute("select pg_is_in_recovery()").fetchone()[0] is False
    # unknown keeper: exit 6; switchover history --json steps share one event id
    assert lc.ctl("switchover", "--to", "nosuchkeeper", check=False).returncode == 6
    history = lc.history()
    started = [e for e in history if e["kind"] == "switchover_started"][-1]
    steps = [e["kind"] for e in history if e.get("eventId") == started["eventId"]]
    assert steps.index("switchover_started") < steps.index("switchover_demoting") < steps.index("master_elected")


def test_switchover_that_cannot_catch_up_aborts_and_leaves_the_old_master(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    old_uid, _ = lc.master_db()
    old = lc.master_keeper()
    target = lc.keeper(next(db["spec"]["keeperUID"] for db in lc.standby_dbs().values()))
    with lc.proxy_connect() as c:
        c.execute("create table t (id int primary key)")
    target.psql("select pg_wal_replay_pause()")
    with lc.proxy_connect() as c:
        c.execute("insert into t select generate_series(1, 100)")
    time.sleep(1.5)
    r = lc.ctl("switchover", "--to", target.uid, "--timeout", "4s", "--wait", check=False, timeout=90)
    assert r.returncode == 8, r.stdout + r.stderr
    assert "aborted" in r.stderr
    assert lc.master_db()[0] == old_uid
    # the old master takes writes again through the proxy, with every row
    def writable():
        try:
            with lc.proxy_connect(timeout=1) as c:
                c.execute("insert into t values (1000)")
                return c.execute("select count(*) from t").fetchone()[0] == 101
        except psycopg.Error:
            return False
    wait_for(writable, 60, "writes through the proxy to the old master")
    assert lc.master_keeper() is old
    target.psql("select pg_wal_replay_resume()", check=False)
    kinds = [e["kind"] for e in lc.history()]
    assert "switchover_aborted" in kinds


def test_pause_elects_nobody_when_the_master_dies_and_resume_fails_over(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    old_uid, _ = lc.master_db()
    old = lc.master_keeper()
    lc.ctl("pause", "--reason", "test")
    st = status_json(lc)
    assert st["cluster"]["paused"] is True
    assert st["cluster"]["maintenance"]["reason"] == "test"
    assert "PAUSED" in lc.ctl("status").stdout
    assert lc.ctl("switchover", check=False).returncode == 5
    lc.kill_host(old)
    time.sleep(10)                         # > failInterval several times over
    assert lc.master_db()[0] == old_uid
    # the dead master still shows, as not reporting and not healthy, and the document still validates
    down = wait_for(lambda: next(k for k in status_json(lc)["keepers"] if k["uid"] == old.uid and not k["reporting"]),
                    30, "the dead master shown as not reporting")
    assert down["reporting"] is False and down["db"]["role"] == "master" and down["db"]["healthy"] is False
    assert "no failover until resume" in " ".join(e["reason"] for e in lc.history())
    lc.ctl("resume")
    wait_for(lambda: (lambda m: m and m[0] != old_uid)(lc.master_db()), 30, "a failover after resume")
    lc.wait_healthy(standbys=1, timeout=60)


def test_failkeeper_fails_the_master_over_and_removekeeper_refuses_the_master(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    old_uid, _ = lc.master_db()
    master = lc.master_keeper()
    r = lc.ctl("removekeeper", master.uid, check=False)
    assert r.returncode == 5 and "master" in r.stderr
    assert lc.ctl("removekeeper", "nosuchkeeper", check=False).returncode == 6
    assert lc.ctl("failkeeper", "nosuchkeeper", check=False).returncode == 6
    st = status_json(lc)
    assert st["cluster"]["leaderSentinel"] in [s["uid"] for s in st["sentinels"]]
    lc.ctl("failkeeper", master.uid)
    wait_for(lambda: (lambda m: m and m[0] != old_uid)(lc.master_db()), 30, "a failover after failkeeper")
    lc.wait_healthy(standbys=2, timeout=90)
    assert any(e["kind"] == "keeper_failed" and "forced" in e["reason"] for e in lc.history())


def test_status_of_a_running_cluster_validates_and_shows_roles_lag_tree_and_watch(cluster_factory):
    lc = cluster_factory(spec=dict(FAST, synchronousReplication=True))
    lc.wait_healthy(standbys=2)
    with lc.proxy_connect() as c:
        c.execute("create table s (id int)")
        c.execute("insert into s select generate_series(1, 1000)")

    def settled():
        st = status_json(lc)
        dbs = [k["db"] for k in st["keepers"] if k["db"]]
        return st if (len(dbs) == 3 and all(d["healthy"] for d in dbs)
                      and any(d["synchronous"] for d in dbs)
                      and all(p["acknowledged"] for p in st["proxies"])) else None
    st = wait_for(settled, 30, "status showing 3 healthy DBs, a synchronous standby and acknowledging proxies")
    master_uid, _ = lc.master_db()
    master_keeper = lc.master_keeper().uid
    roles = {k["uid"]: k["db"]["role"] for k in st["keepers"]}
    assert roles[master_keeper] == "master" and sorted(roles.values()) == ["master", "standby", "standby"]
    assert st["cluster"]["masterXLogPos"] is not None
    for k in st["keepers"]:
        db = k["db"]
        assert k["reporting"] and k["inClusterData"]
        assert db["timelineID"] >= 1 and isinstance(db["lagBytes"], int)
        assert db["listenAddress"] == f"127.0.0.1:{lc.keeper(k['uid']).pg_port}"
        if db["role"] == "master":
            assert db["lagBytes"] == 0 and db["synchronous"] is False and db["follows"] is None
        else:
            assert db["follows"] == master_uid
    assert [s["uid"] for s in st["sentinels"] if s["leader"]] == [st["cluster"]["leaderSentinel"]]
    assert [p["generation"] for p in st["proxies"]] == [st["cluster"]["proxyGeneration"]]
    tree = st["replication"]
    assert tree["db"] == master_uid and tree["keeper"] == master_keeper
    assert sorted(f["keeper"] for f in tree["followers"]) == sorted(set(roles) - {master_keeper})

    text = lc.ctl("status").stdout
    assert "(leader)" in text and "Replication:" in text
    assert f"{master_uid} (keeper {master_keeper}) master" in text
    assert text.count("standby, ") == 2 and ", sync" in text

    # --watch without a terminal: plain repeated output, no escape codes, stops after --watch-count
    r = lc.ctl("status", "--watch", "--watch-count", "3", timeout=30)
    assert r.stdout.count("Every 1s: bulwarkctl status") == 3
    assert r.stdout.count("Replication:") == 3 and "\033" not in r.stdout and "\x1b" not in r.stdout
    assert lc.ctl("status", "--watch-count", "-1", check=False).returncode == 2
