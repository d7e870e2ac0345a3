"""bulwark-keeper against a real etcd and real PostgreSQL 15, with the test playing the sentinel: it reads the
keepers' reports and writes the cluster data with `bulwarkctl clusterdata write`.
"""
import os
import subprocess
import time
import urllib.request

import pytest

from keeper_fixture import (KEEPER, KeeperProc, Workspace, cluster_data, db_entry, status_from_report, wait_for,
                            write_cluster_data)

CUID = "c0ffee01"


@pytest.fixture
def ws(request):
    w = Workspace()
    try:
        yield w
    finally:
        if getattr(request.node, "rep_call_failed", False):
            for k in w.keepers:
                print(k.logs_for_failure())
        w.cleanup()


def boot_uuids(*keepers):
    """Publishes an empty cluster data so the keepers report, then returns {uid: bootUUID}."""
    return {k.uid: k.wait_report()["bootUUID"] for k in keepers}


class Cluster:
    """The cluster data the test writes, kept as Python objects."""

    def __init__(self, etcd):
        self.etcd = etcd
        self.keepers = {}
        self.dbs = {}
        self.master = ""
        self.spec_extra = {}

    def write(self):
        write_cluster_data(self.etcd, cluster_data(CUID, self.keepers, self.dbs, self.master, self.spec_extra))


def start_master(etcd, ws, uid="k0", extra_args=()):
    k0 = KeeperProc(ws, etcd, uid, extra_args).start()
    c = Cluster(etcd)
    c.write()  # no keepers yet: the keeper reads it, learns the cluster uid, and reports
    c.keepers = boot_uuids(k0)
    c.dbs["db0"] = db_entry("db0", uid, 1, "master", "new")
    c.master = "db0"
    c.write()
    k0.wait_report(lambda r: (r.get("postgresState") or {}).get("generation") == 1
                   and r["postgresState"]["healthy"], timeout=60, what="master converged")
    c.dbs["db0"]["status"].update(status_from_report(k0))
    return k0, c


def add_standby(etcd, ws, c, master_db, uid, db_uid, use_pg_rewind=False):
    k = KeeperProc(ws, etcd, uid).start()
    c.write()
    c.keepers.update(boot_uuids(k))
    c.dbs[db_uid] = db_entry(db_uid, uid, 1, "standby", "resync", follow=master_db, use_pg_rewind=use_pg_rewind)
    c.dbs[master_db]["spec"]["followers"] = sorted(set(c.dbs[master_db]["spec"]["followers"]) | {db_uid})
    c.dbs[master_db]["generation"] += 1
    c.write()
    return k


def wait_converged(k, generation, timeout=60):
    return k.wait_report(lambda r: (r.get("postgresState") or {}).get("generation") == generation
                         and r["postgresState"]["healthy"], timeout=timeout, what=f"generation {generation}")


def test_new_master_accepts_writes_and_reports_healthy_with_lsn_and_generation(etcd, ws):
    k0, c = start_master(etcd, ws)
    k0.psql("CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1)")
    assert k0.psql("SELECT count(*) FROM t") == "1"
    r = k0.report()
    ps = r["postgresState"]
    assert r["clusterUID"] == CUID and r["uid"] == "k0"
    assert ps["uid"] == "db0" and ps["generation"] == 1 and ps["healthy"] is True
    assert ps["xLogPos"] != "0/0" and ps["timelineID"] == 1 and ps["systemID"]
    assert ps["port"] == k0.pg_port and ps["listenAddress"] == "127.0.0.1"
    # data checksums on (pg_rewind works) and ALTER SYSTEM has no effect
    assert k0.psql("SHOW data_checksums") == "on"
    assert os.readlink(os.path.join(k0.data_dir, "postgres", "postgresql.auto.conf")) == "/dev/null"
    # the report changes infoUID at every publish
    first = r["infoUID"]
    wait_for(lambda: k0.report()["infoUID"] != first, 5, "a new infoUID")
    assert "password" not in k0.log().lower() or "repl:pw" not in k0.log()
    assert "pass'w" not in k0.log()


def test_keeper_runs_no_postgres_until_its_boot_uuid_is_in_the_cluster_data(etcd, ws):
    k0, c = start_master(etcd, ws)
    k0.stop()
    k0.start()
    # a restarted keeper has a new boot uuid: the old one in the cluster data keeps postgres stopped (I6)
    new_boot = wait_for(lambda: (lambda r: r["bootUUID"] if r and r["bootUUID"] != c.keepers["k0"] else None)(
        k0.report()), 20, "new boot uuid")
    time.sleep(1.5)
    assert k0.postmaster_pid() is None
    c.keepers["k0"] = new_boot
    c.write()
    wait_for(lambda: k0.psql("SELECT 1", check=False) == "1", 30, "postgres back after the boot uuid is seen")


def test_resync_standby_streams_rows_and_has_a_slot_on_the_master(etcd, ws):
    k0, c = start_master(etcd, ws)
    k1 = add_standby(etcd, ws, c, "db0", "k1", "db1")
    wait_converged(k1, 1, timeout=90)
    assert k0.psql("SELECT slot_name FROM pg_replication_slots") == "bulwark_db1"
    k0.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (42)")
    wait_for(lambda: k1.psql("SELECT count(*) FROM t WHERE id = 42", check=False) == "1", 10, "row on the standby")
    assert k1.psql("SELECT pg_is_in_recovery()") == "t"
    assert k0.psql("SELECT application_name FROM pg_stat_replication") == "bulwark_db1"
    assert k0.http("/primary") == 200 and k0.http("/replica") == 503
    assert k1.http("/replica") == 200 and k1.http("/primary") == 503
    assert k1.http("/read-only") == 200 and k0.http("/health") == 200
    assert k1.http("/replica?lag=1000000000") == 200


@pytest.mark.parametrize("use_pg_rewind", [True, False], ids=["pg_rewind", "pg_basebackup"])
def test_swap_roles_promotes_standby_and_old_master_rejoins(etcd, ws, use_pg_rewind):
    k0, c = start_master(etcd, ws)
    k1 = add_standby(etcd, ws, c, "db0", "k1", "db1", use_pg_rewind)
    wait_converged(k1, 1, timeout=90)
    k0.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
    wait_for(lambda: k1.psql("SELECT count(*) FROM t", check=False) == "1", 10, "row on the standby")
    c.dbs["db1"]["status"].update(status_from_report(k1))

    # swap: db1 becomes master; the old master gets a new resync DB following it
    c.dbs["db1"]["spec"].update(role="master", followers=["db2"], initMode="none")
    c.dbs["db1"]["spec"].pop("followConfig")
    c.dbs["db1"]["generation"] += 1
    del c.dbs["db0"]
    c.dbs["db2"] = db_entry("db2", "k0", 1, "standby", "resync", follow="db1", use_pg_rewind=use_pg_rewind)
    c.master = "db1"
    t0 = time.monotonic()
    c.write()
    wait_for(lambda: k1.psql("INSERT INTO t VALUES (2) RETURNING id", check=False) == "2", 30, "writes on db1",
             interval=0.02)
    promote_s = time.monotonic() - t0
    # the old master stopped taking writes
    wait_for(lambda: k0.psql("INSERT INTO t VALUES (99) RETURNING id", check=False) is None, 10, "old master fenced")
    c.dbs["db1"]["status"].update(status_from_report(k1))
    c.write()
    wait_converged(k0, 1, timeout=120)
    k1.psql("INSERT INTO t VALUES (3)")
    wait_for(lambda: k0.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t", check=False) == "1,2,3", 20,
             "every committed row on the rejoined standby")
    assert k0.psql("SELECT pg_is_in_recovery()") == "t"
    print(urllib.request.urlopen(f"http://127.0.0.1:{k1.http_port}/metrics").read().decode())
    assert k1.http("/primary") == 200 and k0.http("/primary") == 503
    assert k0.http("/replica") == 200 and k1.http("/replica") == 503
    log = k0.log()
    if use_pg_rewind:
        assert "pg_rewind" in log and "falling back to pg_basebackup" not in log
    else:
        assert "pg_rewind" not in log
    print(f"promote to accepting writes: {promote_s:.3f}s")


def test_stopped_standby_told_master_promotes_onto_a_new_timeline(etcd, ws):
    """Found by the chaos harness: a standby whose PostgreSQL was stopped when it was elected used to be started
    straight as a primary, which goes on writing on the timeline it followed, the one the old master wrote on.
    It must promote onto a new timeline, like a running standby."""
    k0, c = start_master(etcd, ws)
    k1 = add_standby(etcd, ws, c, "db0", "k1", "db1")
    wait_converged(k1, 1, timeout=90)
    k0.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
    wait_for(lambda: k1.psql("SELECT count(*) FROM t", check=False) == "1", 10, "row on the standby")
    c.dbs["db1"]["status"].update(status_from_report(k1))
    k1.stop()                                  # the keeper stops its PostgreSQL
    k0.stop()                                  # the old master goes away too
    assert k1.postmaster_pid() is None

    k1.start()
    new_boot = wait_for(lambda: (lambda r: r["bootUUID"] if r and r["bootUUID"] != c.keepers["k1"] else None)(
        k1.report()), 20, "new boot uuid")
    c.keepers["k1"] = new_boot
    c.dbs["db1"]["spec"].update(role="master", followers=[], initMode="none")
    c.dbs["db1"]["spec"].pop("followConfig")
    c.dbs["db1"]["generation"] += 1
    del c.dbs["db0"]
    c.master = "db1"
    c.write()
    wait_for(lambda: k1.psql("INSERT INTO t VALUES (2) RETURNING id", check=False) == "2", 60, "writes on db1")
    timeline = int(k1.psql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"), 16)
    assert timeline == 2, f"promoted on timeline {timeline}: it did not switch to a new timeline"
    assert "starting stopped postgres as a standby to promote it db=db1" in k1.log()
    assert k1.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t") == "1,2"


def test_keeper_killed_during_base_backup_repairs_on_next_start(etcd, ws):
    k0, c = start_master(etcd, ws)
    # enough data for the base backup to take a while
    k0.psql("CREATE TABLE big AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 400000) g", timeout=120)
    k1 = add_standby(etcd, ws, c, "db0", "k1", "db1")
    wait_for(lambda: "pg_basebackup" in k1.log(), 60, "base backup started", interval=0.02)
    time.sleep(0.3)
    k1.kill()
    assert not os.path.exists(os.path.join(k1.data_dir, "postgres", "postmaster.pid"))
    k1.start()
    c.keepers["k1"] = wait_for(lambda: (lambda r: r["bootUUID"] if r and r["bootUUID"] != c.keepers["k1"] else None)(
        k1.report()), 20, "new boot uuid")
    c.write()
    wait_converged(k1, 1, timeout=120)
    assert k1.psql("SELECT count(*) FROM big") == "400000"


def test_second_keeper_on_the_same_data_dir_refuses(etcd, ws):
    k0 = KeeperProc(ws, etcd, "k0").start()
    wait_for(lambda: os.path.exists(os.path.join(k0.data_dir, "lock")), 10, "lock file")
    time.sleep(0.5)
    r = subprocess.run(k0.argv(), capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert "another keeper is already running on data dir" in r.stderr


def test_root_without_os_user_refuses_with_its_message(etcd, ws):
    k = KeeperProc(ws, etcd, "k9")
    argv = k.argv()
    i = argv.index("--os-user")
    del argv[i:i + 2]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert "refusing to run as root" in r.stderr and "--os-user" in r.stderr
    assert not os.path.exists(k.data_dir)


def test_bad_flags_exit_2_naming_the_flag(etcd, ws):
    k = KeeperProc(ws, etcd, "k8")
    for flag, value in (("--uid", "Bad-Uid"), ("--pg-su-auth-method", "password"), ("--pg-port", "0")):
        argv = k.argv() + [flag, value]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (flag, r.stderr)
        assert flag in r.stderr


def test_bad_pg_parameter_makes_instance_unhealthy_until_the_spec_is_fixed(etcd, ws):
    k0, c = start_master(etcd, ws)
    c.dbs["db0"]["spec"]["pgParameters"] = {"work_mem": "banana"}
    c.dbs["db0"]["generation"] = 2
    c.write()
    k0.wait_report(lambda r: r["postgresState"]["healthy"] is False, timeout=20, what="unhealthy")
    assert k0.report()["postgresState"]["generation"] == 1
    assert k0.http("/primary") == 503
    c.dbs["db0"]["spec"]["pgParameters"] = {"work_mem": "8MB"}
    c.dbs["db0"]["generation"] = 3
    c.write()
    wait_converged(k0, 3, timeout=20)
    assert k0.psql("SHOW work_mem") == "8MB"
    assert k0.report()["postgresState"]["pgParameters"].get("work_mem") == "8MB"
    assert k0.http("/primary") == 200
