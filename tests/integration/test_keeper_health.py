"""The keeper's /health during a long step (review finding H4): the Helm chart's liveness probe is /health, so a
keeper in the middle of a long base backup must answer 200 as long as the copy moves, and 503 once it hangs.

The standby's keeper runs with a --pg-bin-path whose pg_basebackup is a wrapper: it keeps reading (its I/O
counters move, as a real copy's do) for 25 s, longer than /health's window of 3 sleep intervals + 10 s, before it
runs the real pg_basebackup; or, to play a hung copy, it sits silent for two minutes.
"""
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from keeper_fixture import KeeperProc, Workspace, db_entry, wait_for
from test_keeper import boot_uuids, start_master, wait_converged

PG_BIN = "/usr/lib/postgresql/15/bin"

SLOW = """#!/bin/bash
# 25 s of reading before the real copy: the bytes read move, as a real base backup's do
end=$((SECONDS + 25))
while [ $SECONDS -lt $end ]; do
  for i in 1 2 3 4 5 6 7 8 9 10; do read -r _ < /proc/self/stat; done
  sleep 0.2
done
exec {real} "$@"
"""

HUNG = """#!/bin/bash
# a copy that hangs: nothing moves for two minutes
exec sleep 120
"""


@pytest.fixture
def ws(request):
    w = Workspace()
    try:
        yield w
    finally:
        if getattr(request.node, "rep_call_failed", False):
            for k in w.keepers:
                print(f"---- log of keeper {k.uid} ----\n{k.log()[-6000:]}")
        w.cleanup()


def bin_dir_with(pg_basebackup):
    d = tempfile.mkdtemp(prefix="bk-bin-", dir="/tmp")
    os.chmod(d, 0o755)
    for name in os.listdir(PG_BIN):
        if name != "pg_basebackup":
            os.symlink(os.path.join(PG_BIN, name), os.path.join(d, name))
    path = os.path.join(d, "pg_basebackup")
    with open(path, "w") as f:
        f.write(pg_basebackup.format(real=os.path.join(PG_BIN, "pg_basebackup")))
    os.chmod(path, 0o755)
    return d


def start_standby_with(etcd, ws, c, bindir):
    k1 = KeeperProc(ws, etcd, "k1", ["--pg-bin-path", bindir]).start()
    c.write()
    c.keepers.update(boot_uuids(k1))
    c.dbs["db1"] = db_entry("db1", "k1", 1, "standby", "resync", follow="db0")
    c.dbs["db0"]["spec"]["followers"] = ["db1"]
    c.dbs["db0"]["generation"] += 1
    c.write()
    return k1


def health_body(k):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{k.http_port}/health", timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_stays_200_through_a_long_base_backup_that_moves(etcd, ws):
    bindir = bin_dir_with(SLOW)
    try:
        k0, c = start_master(etcd, ws)
        k1 = start_standby_with(etcd, ws, c, bindir)
        t0 = time.monotonic()
        seen = []
        # poll like a liveness probe, but every second, until the standby has converged
        while time.monotonic() - t0 < 90:
            seen.append((round(time.monotonic() - t0, 1), *health_body(k1)))
            r = k1.report() or {}
            ps = r.get("postgresState") or {}
            if ps.get("generation") == 1 and ps.get("healthy"):
                break
            time.sleep(1)
        wait_converged(k1, 1, timeout=60)
        bad = [x for x in seen if x[1] != 200]
        assert not bad, f"/health answered other than 200 while the copy moved: {bad} of {len(seen)} samples"
        busy = [t for t, status, body in seen if "busy in pg_basebackup" in body]
        assert busy and max(busy) > 14, f"the wrapper ran 25 s, longer than the 13 s window: {seen}"
    finally:
        shutil.rmtree(bindir, ignore_errors=True)


def test_health_turns_503_when_the_base_backup_hangs(etcd, ws):
    bindir = bin_dir_with(HUNG)
    try:
        k0, c = start_master(etcd, ws)
        k1 = start_standby_with(etcd, ws, c, bindir)
        wait_for(lambda: health_body(k1)[0] == 503, 45, "/health 503 while the copy does not move", interval=0.5)
        status, body = health_body(k1)
        assert status == 503 and "stalled" in body
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
