"""The whole system on loopback: real etcd, keepers with PostgreSQL, sentinels and a proxy. Initialization,
failover to the most advanced standby, the old master rejoining, a sentinel leader change without failover,
no acknowledged write lost in synchronous mode, a lagging standby never elected, and a paused master keeper
failed over and fenced when it resumes.
"""
import os
import signal
import threading
import time

import psycopg

from keeper_fixture import wait_for

FAST = {"initMode": "new", "sleepInterval": "1s", "failInterval": "3s"}


def new_master_after(lc, old_master_db, timeout=30):
    return wait_for(lambda: (lambda m: m if m and m[0] != old_master_db else None)(lc.master_db()), timeout,
                    "a new master")


def standby_lsn(keeper):
    return keeper.psql("select pg_last_wal_replay_lsn()")


def test_three_keepers_initialize_one_master_and_two_streaming_standbys(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    cd = lc.clusterdata()
    masters = [uid for uid, db in cd["dbs"].items() if db["spec"]["role"] == "master"]
    assert masters == [cd["cluster"]["status"]["master"]]
    assert len(lc.standby_dbs(cd)) == 2
    # the proxy routes writes to the master
    with lc.proxy_connect() as c:
        c.execute("create table t (id int primary key)")
        c.execute("insert into t values (1)")
    for k in lc.keepers:
        if k is not lc.master_keeper():
            wait_for(lambda: k.psql("select count(*) from t", check=False) == "1", 10, "the row on a standby")


def test_master_death_elects_most_advanced_standby_and_the_third_follows_it(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    cd = lc.clusterdata()
    old_uid, _ = lc.master_db(cd)
    old = lc.master_keeper(cd)
    standbys = [lc.keeper(db["spec"]["keeperUID"]) for db in lc.standby_dbs(cd).values()]
    behind, ahead = standbys
    with lc.proxy_connect() as c:
        c.execute("create table t (id int primary key, pad text)")
    # one standby stops replaying: the other is now the most advanced (both within maxStandbyLag)
    behind.psql("select pg_wal_replay_pause()")
    with lc.proxy_connect() as c:
        c.execute("insert into t select g, repeat('x', 100) from generate_series(1, 500) g")
    wait_for(lambda: ahead.psql("select count(*) from t", check=False) == "500", 10, "rows on the ahead standby")
    time.sleep(1.5)                        # let a report carry the new positions to the sentinel
    lc.kill_host(old)
    new_uid, new_db = new_master_after(lc, old_uid)
    assert new_db["spec"]["keeperUID"] == ahead.uid
    behind.psql("select pg_wal_replay_resume()", check=False)  # a restart to follow the new master resumes it too
    lc.wait_healthy(standbys=1, timeout=60)   # the third follows the new master
    with lc.proxy_connect() as c:
        assert c.execute("select count(*) from t").fetchone()[0] == 500
    kinds = [e["kind"] for e in lc.history() or []]
    assert "master_failed" in kinds and "master_elected" in kinds


def test_old_master_restarted_rejoins_as_standby(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    old_uid, _ = lc.master_db()
    old = lc.master_keeper()
    lc.kill_host(old)
    new_master_after(lc, old_uid)
    lc.wait_healthy(standbys=1, timeout=60)
    with lc.proxy_connect() as c:
        c.execute("create table after_failover (id int)")
        c.execute("insert into after_failover values (42)")
    old.start()
    lc.wait_healthy(standbys=2, timeout=90)
    wait_for(lambda: old.psql("select pg_is_in_recovery()", check=False) == "t", 30, "the old master in recovery")
    wait_for(lambda: old.psql("select count(*) from after_failover", check=False) == "1", 30,
             "the new master's row on the old master")


def test_leader_sentinel_killed_another_takes_over_without_failover(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    master_before = lc.master_db()[0]
    leader = wait_for(lc.leader_sentinel, 10, "a leader sentinel")
    leader.kill()
    other = wait_for(lambda: (lambda s: s if s and s is not leader else None)(lc.leader_sentinel()), 30,
                     "another leader")
    assert other.running()
    time.sleep(8)                          # well past failInterval: a fresh leader must not fail over
    assert lc.master_db()[0] == master_before
    with lc.proxy_connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_sync_mode_kill_master_under_write_load_loses_no_acknowledged_transaction(cluster_factory):
    lc = cluster_factory(spec={**FAST, "synchronousReplication": True, "minSynchronousStandbys": 1,
                               "maxSynchronousStandbys": 1})
    lc.wait_healthy(standbys=2)
    wait_for(lambda: (lambda m: m and m[1]["spec"]["synchronousStandbys"])(lc.master_db()), 30,
             "a synchronous standby in the master's spec")
    with lc.proxy_connect() as c:
        c.execute("create table acked (id bigint primary key)")
    acked = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            try:
                with lc.proxy_connect(timeout=1) as c:
                    while not stop.is_set():
                        c.execute("insert into acked values (%s)", (i,))
                        acked.append(i)
                        i += 1
            except psycopg.Error:
                time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(2)
        old_uid, _ = lc.master_db()
        lc.kill_host(lc.master_keeper())
        new_master_after(lc, old_uid)
        wait_for(lambda: len(acked) > 0 and lc.healthy(1), 60, "writes through the new master")
        time.sleep(1)
    finally:
        stop.set()
        t.join(30)
    with lc.proxy_connect() as c:
        present = {r[0] for r in c.execute("select id from acked").fetchall()}
    lost = [i for i in acked if i not in present]
    assert acked and not lost, f"{len(lost)} acknowledged writes lost: {lost[:10]}"


def test_standby_too_far_behind_is_not_elected(cluster_factory):
    lc = cluster_factory(keepers=2, spec={**FAST, "maxStandbyLag": 65536})
    lc.wait_healthy(standbys=1)
    cd = lc.clusterdata()
    old_uid, _ = lc.master_db(cd)
    standby = lc.keeper(next(iter(lc.standby_dbs(cd).values()))["spec"]["keeperUID"])
    standby.psql("select pg_wal_replay_pause()")
    with lc.proxy_connect() as c:
        c.execute("create table big as select g, repeat('y', 200) pad from generate_series(1, 20000) g")
    time.sleep(2.5)                        # the master's report carries its new position
    lc.kill_host(lc.master_keeper(cd))
    time.sleep(10)                         # failInterval is 3s: a lagging standby would be elected by now
    assert lc.master_db()[0] == old_uid
    kinds = [e["kind"] for e in lc.history() or []]
    assert "no_eligible_master" in kinds
    standby.psql("select pg_wal_replay_resume()", check=False)


def test_paused_master_keeper_is_failed_over_and_fenced_when_resumed(cluster_factory):
    lc = cluster_factory(spec=FAST)
    lc.wait_healthy(standbys=2)
    old_uid, _ = lc.master_db()
    old = lc.master_keeper()
    os.kill(old.proc.pid, signal.SIGSTOP)     # the keeper pauses; its PostgreSQL keeps running
    try:
        new_master_after(lc, old_uid)
        lc.wait_healthy(standbys=1, timeout=60)
        with lc.proxy_connect() as c:
            assert c.execute("select pg_is_in_recovery()").fetchone()[0] is False
            assert c.execute("select inet_server_port()").fetchone()[0] != old.pg_port
    finally:
        os.kill(old.proc.pid, signal.SIGCONT)
    # resumed, it finds it is no longer master: stops its PostgreSQL and rejoins as a standby
    wait_for(lambda: old.psql("select pg_is_in_recovery()", check=False) == "t", 60, "the old master fenced and "
             "back as a standby")
    lc.wait_healthy(standbys=2, timeout=60)
