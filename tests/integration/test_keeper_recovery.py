"""A keeper whose PostgreSQL will not start, and a keeper killed in the middle of a step that changes its data
directory. Real etcd, sentinels and PostgreSQL (LocalCluster).

- A PostgreSQL that cannot start (its port taken) is explained in the keeper's log, report and `bulwarkctl
  status` in PostgreSQL's own words; the start is retried at a slowing pace; the data directory is kept (one
  initdb, not one every 2 s); and the keeper converges as soon as the cause is gone.
- Stale lock files whose PID belongs to another live process (a postmaster.pid, a socket lock file) do not keep
  PostgreSQL from starting.
- Killed during pg_rewind, during a base backup, right after a promotion started: the restarted keeper redoes the
  right step (an interrupted rewind is never rewound again) and the cluster converges.
- A standby that waits for WAL its master no longer has never becomes consistent: the keeper says so (status
  "recovering" with PostgreSQL's reason), then resyncs it.

The pg_wrapper module interrupts pg_rewind, pg_basebackup and pg_ctl promote at a chosen point.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from keeper_fixture import wait_for
from local_cluster import LocalCluster
from pg_wrapper import REAL_BIN, PgBinWrapper

FAST = {"initMode": "new", "sleepInterval": "1s", "failInterval": "3s"}


@pytest.fixture
def wrap():
    w = PgBinWrapper()
    yield w
    w.cleanup()


@pytest.fixture
def unstarted(request, etcd):
    """make(**LocalCluster options): a cluster not started yet, so the test can set the stage first."""
    made = []

    def make(**kw):
        lc = LocalCluster(etcd, **kw)
        made.append(lc)
        return lc
    yield make
    for lc in made:
        if getattr(request.node, "rep_call_failed", False):
            print(lc.logs(tail=80))
        lc.cleanup()


@pytest.fixture
def foreign_process():
    """A live process of the postgres user that is no postmaster: its PID stands in for a reused one (PostgreSQL
    itself counts another user's PID as stale, not its own user's)."""
    p = subprocess.Popen(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "sleep", "600"],
                         cwd="/")
    yield p
    p.kill()
    p.wait(10)


def new_master_after(lc, old_master_db, timeout=30):
    return wait_for(lambda: (lambda m: m if m and m[0] != old_master_db else None)(lc.master_db()), timeout,
                    "a new master")


def master_writable(lc, keeper):
    return keeper.psql("select not pg_is_in_recovery()", check=False) == "t"


def keeper_problem(keeper):
    r = keeper.report()
    return (r or {}).get("problem", "")


def count(text, needle):
    return sum(1 for line in text.splitlines() if needle in line)


# ---- a PostgreSQL that will not start ----

def test_start_failure_is_explained_paced_and_keeps_the_data_directory(unstarted):
    lc = unstarted(keepers=1, sentinels=1, proxies=0, spec=FAST)
    k = lc.keepers[0]
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", k.pg_port))
    blocker.listen(1)
    try:
        lc.start()
        # PostgreSQL's own reason reaches the keeper's log, its report and status
        problem = wait_for(lambda: (lambda p: p if "Address already in use" in p else None)(keeper_problem(k)), 60,
                           "the port conflict in the keeper's report")
        assert "postgres did not start" in problem
        assert "postgres: " in k.log() and "Address already in use" in k.log()
        status = lc.ctl("status").stdout
        assert "problem:" in status and "Address already in use" in status, status
        pg_version = os.path.join(k.data_dir, "postgres", "PG_VERSION")
        inode = os.stat(pg_version).st_ino
        starts_before = count(k.log(), "pg_ctl start")
        time.sleep(12)
        log = k.log()
        # the data directory is kept: one initdb, the same files
        assert count(log, "/initdb ") == 1, log
        assert os.stat(pg_version).st_ino == inode
        # paced: 1, 2, 4, 8 s between attempts, not one attempt every pass (12 or more in 12 s)
        assert count(log, "pg_ctl start") - starts_before <= 5, log
        assert "next attempt in" in log
    finally:
        blocker.close()
    # the cause gone, the next attempt succeeds (the pace is at most 30 s)
    wait_for(lambda: master_writable(lc, k), 60, "the master accepting writes once its port is free")
    wait_for(lambda: keeper_problem(k) == "", 15, "the problem cleared from the report")
    assert count(k.log(), "/initdb ") == 1


def test_stale_socket_lock_file_with_a_live_foreign_pid_does_not_block_the_start(unstarted, foreign_process):
    lc = unstarted(keepers=1, sentinels=1, proxies=0, spec=FAST)
    k = lc.keepers[0]
    # what a postmaster killed with SIGKILL leaves in its socket directory, its PID now another live process's
    run_dir = os.path.join(k.data_dir, "run")
    os.makedirs(run_dir)
    lock = os.path.join(run_dir, f".s.PGSQL.{k.pg_port}.lock")
    with open(lock, "w") as f:
        f.write(f"{foreign_process.pid}\n{os.path.join(k.data_dir, 'postgres')}\n1700000000\n{k.pg_port}\n{run_dir}\n")
    shutil.chown(k.data_dir, "postgres", "postgres")
    for path in (run_dir, lock):
        shutil.chown(path, "postgres", "postgres")
    lc.start()
    wait_for(lambda: master_writable(lc, k), 60, "the master accepting writes despite the stale lock file")
    assert "removing stale socket lock file" in k.log()


def test_stale_postmaster_pid_with_a_live_foreign_pid_does_not_block_a_restart(cluster_factory, foreign_process):
    lc = cluster_factory(keepers=1, sentinels=1, proxies=0, spec=FAST)
    k = lc.keepers[0]
    wait_for(lambda: master_writable(lc, k), 60, "the master accepting writes")
    k.psql("create table kept (id int); insert into kept values (7)")
    pid_file = os.path.join(k.data_dir, "postgres", "postmaster.pid")
    lc.kill_host(k)
    with open(pid_file) as f:
        lines = f.read().split("\n")
    lines[0] = str(foreign_process.pid)    # the dead postmaster's PID, reused by another process
    with open(pid_file, "w") as f:
        f.write("\n".join(lines))
    k.start()
    wait_for(lambda: master_writable(lc, k), 60, "the master back despite the stale postmaster.pid")
    assert k.psql("select id from kept") == "7"
    assert "removing stale" in k.log()


# ---- killed in the middle of a step ----

@pytest.mark.parametrize("program", ["pg_rewind", "pg_basebackup"])
def test_old_master_killed_while_being_copied_converges(cluster_factory, wrap, program):
    """The old master rejoins by pg_rewind (or, without usePgrewind, a base backup) and is killed with the copy
    half done; restarted, it must converge, and a half-rewound directory is never rewound again."""
    spec = FAST if program == "pg_rewind" else {**FAST, "usePgrewind": False}
    lc = cluster_factory(spec=spec, keeper_args=("--pg-bin-path", str(wrap.bin)))
    lc.wait_healthy(standbys=2)
    old_uid, _ = lc.master_db()
    old = lc.master_keeper()
    lc.kill_host(old)
    new_master_after(lc, old_uid)
    lc.wait_healthy(standbys=1, timeout=60)
    with lc.proxy_connect() as c:
        # enough for the copy to take a while
        c.execute("create table big as select g as id, repeat('x', 200) as pad from generate_series(1, 200000) g")
    wrap.arm(old.uid, program, "kill-after 300")
    old.start()
    assert wrap.wait_hit(old.uid, program, 60) == "killed"
    lc.kill_host(old)
    old.start()
    lc.wait_healthy(standbys=2, timeout=120)
    wait_for(lambda: old.psql("select count(*) from big", check=False) == "200000", 30, "the rows on the old master")
    log = old.log()
    if program == "pg_rewind":
        assert "an interrupted pg_rewind leaves unusable data" in log, log
        assert count(log, "/pg_rewind ") == 1, log
    else:
        assert "redo an interrupted base backup" in log, log


def test_new_master_killed_right_after_its_promotion_started_converges(cluster_factory, wrap):
    lc = cluster_factory(spec=FAST, keeper_args=("--pg-bin-path", str(wrap.bin)))
    lc.wait_healthy(standbys=2)
    with lc.proxy_connect() as c:
        c.execute("create table before_promotion (id int)")
        c.execute("insert into before_promotion select generate_series(1, 100)")
    old_uid, _ = lc.master_db()
    old = lc.master_keeper()
    standbys = [k for k in lc.keepers if k is not old]
    for k in standbys:
        wrap.arm(k.uid, "pg_ctl.promote", "nowait")
    lc.kill_host(old)
    promoted = wait_for(lambda: next((k for k in standbys if (wrap.control / f"{k.uid}.pg_ctl.promote.hit").exists()),
                                     None), 60, "a promotion request")
    lc.kill_host(promoted)                  # within milliseconds of the request
    for k in standbys:
        path = wrap.control / f"{k.uid}.pg_ctl.promote"
        if path.exists():
            path.unlink()
    promoted.start()
    old.start()
    lc.wait_healthy(standbys=2, timeout=120)
    with lc.proxy_connect() as c:
        assert c.execute("select count(*) from before_promotion").fetchone()[0] == 100
        c.execute("insert into before_promotion values (101)")


# ---- a standby that cannot become consistent ----

def test_standby_waiting_for_wal_its_master_no_longer_has_is_reported_then_resynced(cluster_factory):
    lc = cluster_factory(spec=FAST, keeper_args=("--recovery-stall-timeout", "10s"))
    lc.wait_healthy(standbys=2)
    master = lc.master_keeper()
    standby = next(k for k in lc.keepers if k is not master)
    with lc.proxy_connect() as c:
        c.execute("create table t (id int)")
        c.execute("insert into t select generate_series(1, 1000)")
    lc.kill_host(standby)
    pgdata = os.path.join(standby.data_dir, "postgres")
    out = subprocess.run([str(REAL_BIN / "pg_controldata"), "-D", pgdata], capture_output=True, text=True,
                         check=True).stdout
    redo = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.startswith("Latest checkpoint's REDO WAL file"))
    # the master moves on to later segments, then loses the ones the standby needs (as if recycled)
    for _ in range(3):
        master.psql("insert into t values (0); select pg_switch_wal()")
    master.psql("checkpoint")
    current = master.psql("select pg_walfile_name(pg_current_wal_lsn())")
    assert current > redo
    for pg_wal in (os.path.join(pgdata, "pg_wal"), os.path.join(master.data_dir, "postgres", "pg_wal")):
        for name in os.listdir(pg_wal):
            if len(name) == 24 and redo <= name and (pg_wal.startswith(pgdata) or name < current):
                os.unlink(os.path.join(pg_wal, name))
    standby.start()
    # first it says what it waits for
    wait_for(lambda: (lambda r: r if r and r.get("keeperState") == "recovering" and r.get("problem") else None)(
        standby.report()), 60, "the standby reported as recovering, with a reason")
    status = lc.ctl("status").stdout
    assert "recovering" in status and "problem:" in status, status
    # then, its master answering but unable to give that WAL, it is resynced
    lc.wait_healthy(standbys=2, timeout=150)
    log = standby.log()
    assert "does not recover" in log, log
    wait_for(lambda: standby.psql("select count(*) from t", check=False) == "1003", 30, "the rows on the standby")
    assert keeper_problem(standby) == ""
