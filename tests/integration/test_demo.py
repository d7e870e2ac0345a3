"""scripts/demo as a newcomer runs it: the unattended failover walkthrough passes every check, and the
interactive demo prints how to connect, then stops everything it started on Ctrl-C.

Both run with BULWARK_DEMO_SKIP_BUILD=1: the test run has installed the dependencies and built already, so the
script goes straight to scripts/demo.py.
"""
import os
import re
import signal
import socket
import subprocess
import time

from etcd_fixture import REPO

DEMO = str(REPO / "scripts" / "demo")


def demo_env():
    return dict(os.environ, BULWARK_DEMO_SKIP_BUILD="1")


def test_demo_walkthrough_runs_to_completion_and_every_check_passes():
    r = subprocess.run([DEMO, "--walkthrough"], capture_output=True, text=True, env=demo_env(), timeout=600)
    out = r.stdout
    print(out)
    assert r.returncode == 0, out + r.stderr
    assert "FAILED" not in out
    assert re.search(r"walkthrough: all \d+ checks passed", out)
    for line in ("ok: the row read through port", "ok: the sentinel elects a new master",
                 "ok: history has the failover", "ok: the row through the read-write port",
                 "ok: the row through the read-only port", "is a healthy standby in bulwarkctl status",
                 "ok: the steps in order: master_failed, master_elected, proxies_routed",
                 "demo: stopped everything it started"):
        assert line in out, line
    assert out.count("$ bulwarkctl status") == 2 and "Replication:" in out
    assert "$ bulwarkctl history" in out
    assert re.search(r'psql "host=127.0.0.1 port=\d+ user=postgres dbname=postgres"    # read-write', out)
    assert re.search(r'psql "host=127.0.0.1 port=\d+ user=postgres dbname=postgres"    # read-only', out)


def test_demo_stays_up_until_ctrl_c_then_stops_everything():
    p = subprocess.Popen([DEMO], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=demo_env())
    lines = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "press Ctrl-C to stop" in line:
                break
        out = "".join(lines)
        assert "press Ctrl-C to stop" in out, out
        rw_port = int(re.search(r"port=(\d+) user=postgres dbname=postgres\"    # read-write", out).group(1))
        with socket.create_connection(("127.0.0.1", rw_port), timeout=5):
            pass
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(30)
    assert p.returncode == 0, out + rest
    assert "demo: stopped everything it started" in rest
    try:
        socket.create_connection(("127.0.0.1", rw_port), timeout=2).close()
        still_listening = True
    except OSError:
        still_listening = False
    assert not still_listening, "the proxy still listens after Ctrl-C"
