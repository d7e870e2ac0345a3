"""Surviving the store (issue: keep serving through an etcd outage, and fence a master that is cut off).

- A master keeper cut from etcd alone (its store traffic through a relay the test cuts) stops accepting writes
  before the new master accepts any, and its /primary answers 503.
- etcd stopped for 60 s under writes through the proxy: the failsafe keeps the master writable and the proxy
  routing, with no failed write, no failover, and everything normal afterwards.
"""
import os
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from keeper_fixture import SU_PASSWORD, wait_for
from local_cluster import LocalCluster
from relay import TcpRelay

FAST = {"initMode": "new", "sleepInterval": "1s", "failInterval": "3s"}


@pytest.fixture
def relayed(request, etcd):
    """make(**LocalCluster options): a cluster whose every keeper reaches etcd through a TcpRelay of its own."""
    made = []

    def make(**kw):
        lc = LocalCluster(etcd, **kw)
        made.append(lc)
        port = int(etcd.members[0].client_url.rsplit(":", 1)[1])
        for k in lc.keepers:
            k.relay = TcpRelay(port)
            k.store_endpoints = k.relay.endpoint
        return lc.start()
    yield make
    for lc in made:
        if getattr(request.node, "rep_call_failed", False):
            print(lc.logs(tail=80))
        lc.cleanup()
        for k in lc.keepers:
            k.relay.close()


def http_status(keeper, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{keeper.http_port}{path}", timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def direct(keeper, timeout=1):
    return psycopg.connect(host="127.0.0.1", port=keeper.pg_port, user="postgres", password=SU_PASSWORD,
                           dbname="postgres", connect_timeout=timeout, autocommit=True)


class DirectWriter:
    """Writes to one keeper's PostgreSQL directly (as a client that bypasses the proxies would), recording the
    time of every acknowledged write."""

    def __init__(self, keeper):
        self.keeper = keeper
        self.acks = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conn = None
        n = 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = direct(self.keeper)
                n += 1
                conn.execute("insert into w values (%s, 'old')", (n,))
                self.acks.append(time.monotonic())
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.02)
        if conn is not None:
            conn.close()


def test_master_cut_from_the_store_stops_writes_before_another_is_promoted(relayed):
    lc = relayed(spec=FAST)
    lc.wait_healthy(standbys=2)
    old_uid, _ = lc.master_db()
    old = lc.master_keeper()
    others = [k for k in lc.keepers if k is not old]
    with lc.proxy_connect() as c:
        c.execute("create table w (id bigint, srv text)")
    assert http_status(old, "/primary") == 200
    writer = DirectWriter(old)
    writer.thread.start()
    wait_for(lambda: len(writer.acks) > 10, 10, "writes on the master")
    # watch /primary on the old master, and try writes on the others, from the cut on
    first_503 = []
    first_new_write = {}
    stop = threading.Event()

    def watch_primary():
        while not stop.is_set() and not first_503:
            if http_status(old, "/primary") == 503:
                first_503.append(time.monotonic())
            time.sleep(0.02)

    def probe_new(k):
        n = 0
        while not stop.is_set() and k.uid not in first_new_write:
            try:
                with direct(k, timeout=1) as c:
                    n += 1
                    c.execute("insert into w values (%s, 'new')", (-n,))
                    first_new_write[k.uid] = time.monotonic()
            except psycopg.Error:
                time.sleep(0.02)

    threads = [threading.Thread(target=watch_primary, daemon=True)] + \
        [threading.Thread(target=probe_new, args=(k,), daemon=True) for k in others]
    t_cut = time.monotonic()
    old.relay.cut()
    for t in threads:
        t.start()
    try:
        new_uid, new_db = wait_for(lambda: (lambda m: m if m and m[0] != old_uid else None)(lc.master_db()), 60,
                                   "a new master elected")
        new = lc.keeper(new_db["spec"]["keeperUID"])
        wait_for(lambda: new.uid in first_new_write, 60, "the new master taking writes")
        wait_for(lambda: first_503, 10, "/primary 503 on the old master")
    finally:
        stop.set()
        writer.stop.set()
        writer.thread.join(10)
        for t in threads:
            t.join(10)
    last_old = max(writer.acks)
    # the old master's last acknowledged write and its /primary 503 both come before the new master's first write
    assert last_old < first_new_write[new.uid], (last_old - t_cut, first_new_write[new.uid] - t_cut)
    assert first_503[0] < first_new_write[new.uid]
    assert "self-fencing" in old.log()
    if os.environ.get("SHOWLOG"):
        print(old.log())
    print(f"cut at 0: old master's last write {last_old - t_cut:.2f}s, /primary 503 at {first_503[0] - t_cut:.2f}s, "
          f"new master's first write {first_new_write[new.uid] - t_cut:.2f}s")
    # healed, the old master rejoins as a standby
    old.relay.heal()
    lc.wait_healthy(standbys=2, timeout=120)


class ProxyWriter:
    """One connection through the proxy, inserting increasing ids; records acknowledged ids, failed attempts and
    reconnections (a dropped connection is a reconnection)."""

    def __init__(self, lc):
        self.lc = lc
        self.acked = []
        self.failures = []
        self.reconnects = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conn = None
        n = 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self.lc.proxy_connect(timeout=2)
                    self.reconnects += 1
                n += 1
                conn.execute("insert into o values (%s)", (n,))
                self.acked.append((n, time.monotonic()))
            except psycopg.Error as e:
                self.failures.append((time.monotonic(), str(e).strip()[:200]))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            time.sleep(0.01)
        if conn is not None:
            conn.close()


def test_etcd_down_for_a_minute_changes_nothing_for_clients_of_the_proxy(cluster_factory, etcd):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    master_before = lc.master_db()[0]
    history_before = len(lc.history() or [])
    with lc.proxy_connect() as c:
        c.execute("create table o (id bigint primary key)")
    w = ProxyWriter(lc)
    w.thread.start()
    wait_for(lambda: len(w.acked) > 20, 20, "writes through the proxy")
    t_down = time.monotonic()
    etcd.stop_all()
    try:
        time.sleep(60)
        acked_during = sum(1 for _, t in w.acked if t > t_down)
    finally:
        etcd.start()
    # normal again: the store answers, every keeper reports, the same master
    lc.wait_healthy(standbys=2, timeout=60)
    time.sleep(5)
    w.stop.set()
    w.thread.join(10)
    failed_after = [f for f in w.failures if f[0] > t_down]
    assert failed_after == [], failed_after[:5]
    assert w.reconnects == 1, f"the proxy dropped the connection {w.reconnects - 1} time(s)"
    assert acked_during > 100, acked_during
    assert lc.master_db()[0] == master_before
    kinds = [e["kind"] for e in (lc.history() or [])[history_before:]]
    assert "master_failed" not in kinds and "master_elected" not in kinds, kinds
    with lc.proxy_connect() as c:
        assert c.execute("select count(*) from o").fetchone()[0] == len(w.acked)
    print(f"etcd down 60 s: {acked_during} writes acknowledged during the outage, 0 failed, 0 reconnections")
