"""scripts/demo.py: the cluster part of scripts/demo (which installs, builds, then runs this with /usr/bin/python3).

It reuses tests/integration/local_cluster.py rather than a second copy of how to start the daemons: a
single-member etcd, 3 keepers, 2 sentinels and 1 proxy (read-write and read-only ports), all on free loopback
ports in one temp directory, run as the unprivileged `postgres` user when started as root. It waits until the
cluster is healthy, prints the psql lines for each port and `bulwarkctl status`, then:

  (default)       stays up until Ctrl-C (or SIGTERM), which stops everything it started, by PID;
  --walkthrough   runs the failover walkthrough unattended, prints `ok:`/`FAILED:` per check and exits 0 only
                  when every check passed.
"""
import argparse
import getpass
import json
import os
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import psycopg  # noqa: E402

from etcd_fixture import start_cluster  # noqa: E402
from keeper_fixture import SU_PASSWORD, wait_for  # noqa: E402
from local_cluster import CTL, LocalCluster  # noqa: E402

# sleepInterval 1s and failInterval 3s, the defaults, spelled out because they are what the walkthrough's
# timeline shows (docs/cluster-spec.md has the trade-off).
SPEC = {"initMode": "new", "sleepInterval": "1s", "failInterval": "3s"}
TABLE_ROW = (1, "written before the failover")


class Stop(Exception):
    """Ctrl-C or SIGTERM: leave through the cleanup."""


def on_signal(signum, frame):
    raise Stop()


class Walkthrough:
    def __init__(self, lc):
        self.lc = lc
        self.passed = 0
        self.failed = []

    def check(self, what, fn, timeout=30):
        """Retries fn until it returns a true value or timeout seconds pass; prints ok/FAILED."""
        try:
            value = wait_for(fn, timeout, what, interval=0.3)
            print(f"  ok: {what}", flush=True)
            self.passed += 1
            return value
        except AssertionError as e:
            print(f"  FAILED: {what}: {e}", flush=True)
            self.failed.append(what)
            return None

    def read_row(self, ro):
        with self.lc.proxy_connect(ro=ro, timeout=2) as c:
            return c.execute("select id, note from demo where id = %s", (TABLE_ROW[0],)).fetchone() == TABLE_ROW

    def run(self):
        lc = self.lc
        step("1. create a table through the read-write port and insert a row")

        def write():
            with lc.proxy_connect(timeout=2) as c:
                c.execute("create table if not exists demo (id int primary key, note text)")
                c.execute("insert into demo values (%s, %s) on conflict (id) do nothing", TABLE_ROW)
            return True
        self.check(f"insert {TABLE_ROW} through port {lc.proxies[0].port}", write)

        step("2. read it through the read-only port (served by a standby)")
        self.check(f"the row read through port {lc.proxies[0].ro_port}", lambda: self.read_row(ro=True))

        old = lc.master_keeper()
        old_uid, _ = lc.master_db()
        step(f"3. kill the master: keeper {old.uid} and its PostgreSQL (db {old_uid}), SIGKILL")
        pid = lc.kill_host(old)
        print(f"  killed keeper pid {old.proc.pid if old.proc else '?'} and postmaster pid {pid}", flush=True)
        killed_at = time.monotonic()
        new = self.check("the sentinel elects a new master",
                         lambda: (lambda m: m if m and m[0] != old_uid else None)(lc.master_db()), timeout=60)
        if new:
            print(f"  new master db {new[0]} on keeper {new[1]['spec']['keeperUID']} after "
                  f"{time.monotonic() - killed_at:.1f} s", flush=True)
        self.check("the proxy routes writes to the new master", lambda: lc.healthy(1), timeout=90)
        run_ctl("history", "--since", "2m")
        self.check("history has the failover: master_failed, master_elected, proxies_routed",
                   lambda: failover_event(lc, old_uid) is not None, timeout=15)

        step("4. read the row again through both ports")
        self.check("the row through the read-write port", lambda: self.read_row(ro=False))
        self.check("the row through the read-only port", lambda: self.read_row(ro=True))

        step(f"5. restart keeper {old.uid}: the old master rejoins as a standby")
        old.start()
        self.check("two standbys stream from the new master again", lambda: lc.healthy(2), timeout=120)
        self.check(f"keeper {old.uid} is a healthy standby in bulwarkctl status",
                   lambda: status_role(lc, old.uid) == ("standby", True), timeout=30)
        self.check(f"the row on keeper {old.uid}'s PostgreSQL",
                   lambda: old.psql(f"select note from demo where id = {TABLE_ROW[0]}", check=False) == TABLE_ROW[1])
        run_ctl("status")

        step("6. the failover timeline, from bulwarkctl history")
        event = failover_event(lc, old_uid)
        if event:
            first = event[0]["time_ms"]
            for e in event:
                print(f"  +{e['time_ms'] - first:>6} ms  {e['kind']:<16} {e['reason']}", flush=True)
            kinds = [e["kind"] for e in event]
            self.check("the steps in order: master_failed, master_elected, proxies_routed",
                       lambda: kinds.index("master_failed") < kinds.index("master_elected")
                       < kinds.index("proxies_routed"), timeout=1)
        else:
            self.check("a failover event in history", lambda: False, timeout=1)

        print(flush=True)
        if self.failed:
            print(f"walkthrough: {len(self.failed)} of {self.passed + len(self.failed)} checks FAILED: "
                  + "; ".join(self.failed), flush=True)
            return False
        print(f"walkthrough: all {self.passed} checks passed", flush=True)
        return True


def step(title):
    print(f"\n== {title}", flush=True)


def run_ctl(*args):
    print(f"\n$ bulwarkctl {' '.join(args)}", flush=True)
    r = LC.ctl(*args, check=False)
    sys.stdout.write(r.stdout + r.stderr)
    sys.stdout.flush()
    return r


def status_role(lc, keeper_uid):
    st = json.loads(lc.ctl("status", "--json").stdout)
    k = next((k for k in st["keepers"] if k["uid"] == keeper_uid), None)
    return (k["db"]["role"], k["db"]["healthy"]) if k and k["db"] else None


def failover_event(lc, old_uid):
    """The history entries of the failover away from db old_uid, oldest first, with time_ms; None if absent."""
    history = lc.history() or []
    failed = [e for e in history if e["kind"] == "master_failed" and old_uid in json.dumps(e)]
    if not failed:
        return None
    event = [e for e in history if e.get("eventId") == failed[-1]["eventId"]]
    for e in event:
        e["time_ms"] = parse_ms(e["time"])
    kinds = [e["kind"] for e in event]
    return event if {"master_failed", "master_elected", "proxies_routed"} <= set(kinds) else None


def parse_ms(rfc3339):
    from datetime import datetime
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def main():
    global LC
    ap = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--walkthrough", action="store_true", help="run the failover walkthrough unattended and exit")
    args = ap.parse_args()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    run_as = "postgres" if os.geteuid() == 0 else None
    etcd = lc = None
    ok = True
    try:
        etcd = start_cluster(1)
        print(f"demo: etcd at {etcd.endpoints}", flush=True)
        lc = LC = LocalCluster(etcd, keepers=3, sentinels=2, proxies=1, spec=SPEC, cluster="demo", run_as=run_as)
        print(f"demo: starting 3 keepers, 2 sentinels and 1 proxy as user {run_as or getpass.getuser()}, "
              f"in {lc.ws.root}", flush=True)
        lc.start()
        lc.wait_healthy(standbys=2, timeout=180)
        p = lc.proxies[0]
        print("\ndemo: the cluster is healthy. Connect with (password in PGPASSWORD):", flush=True)
        print(f"  export PGPASSWORD={sh_quote(SU_PASSWORD)}")
        print(f"  psql \"host=127.0.0.1 port={p.port} user=postgres dbname=postgres\"    # read-write: the master")
        print(f"  psql \"host=127.0.0.1 port={p.ro_port} user=postgres dbname=postgres\"    # read-only: a standby")
        print("and look at it with:")
        print(f"  BULWARK_STORE_ENDPOINTS={etcd.endpoints} BULWARK_CLUSTER_NAME=demo {CTL} status --watch")
        run_ctl("status")
        if args.walkthrough:
            ok = Walkthrough(lc).run()
        else:
            print("\ndemo: press Ctrl-C to stop", flush=True)
            while True:
                time.sleep(3600)
    except Stop:
        print("\ndemo: stopping", flush=True)
    except (AssertionError, psycopg.Error, OSError) as e:
        print(f"demo: {e}", file=sys.stderr, flush=True)
        if lc is not None:
            print(lc.logs(), file=sys.stderr, flush=True)
        ok = False
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # a second Ctrl-C must not cut the cleanup short
        if lc is not None:
            lc.cleanup()
        if etcd is not None:
            etcd.cleanup()
        print("demo: stopped everything it started", flush=True)
    return 0 if ok else 1


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


LC = None

if __name__ == "__main__":
    sys.exit(main())
