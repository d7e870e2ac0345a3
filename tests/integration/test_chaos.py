"""The short chaos run of scripts/test: the whole cluster in network namespaces (3 etcd members, 3 keepers,
3 sentinels, 2 proxies) under a synchronous-mode write workload for about 2 minutes of seeded random faults, then
the checker (tests/chaos/chaos.py, docs/chaos.md). It must report PASS: no acknowledged write lost, no
overlapping write windows, standbys converged, I1 and I2 held.
"""
import json
import os
import subprocess

import pytest

from etcd_fixture import REPO

CHAOS = REPO / "tests" / "chaos" / "chaos.py"


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_short_sync_chaos_run_passes(tmp_path):
    seed = int(os.environ.get("CHAOS_SEED", "20260101"))
    duration = os.environ.get("CHAOS_DURATION", "120s")
    report = tmp_path / "report.json"
    r = subprocess.run(["nice", "-n", "10", "/usr/bin/python3", str(CHAOS), "--duration", duration, "--seed", str(seed),
                        "--sync", "--json", str(report), "--keep-logs", str(tmp_path / "logs")],
                       capture_output=True, text=True, timeout=1200)
    print(r.stdout[-6000:])
    print(r.stderr[-3000:])
    assert r.returncode == 0, f"chaos run failed (rc {r.returncode}), logs in {tmp_path / 'logs'}"
    rep = json.loads(report.read_text())
    assert rep["result"] == "PASS"
    assert rep["writes_lost"] == 0
    assert rep["faults_total"] > 0 and rep["writes_acknowledged"] > 0
