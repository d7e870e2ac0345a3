"""Real bulwark-keeper processes for the integration tests, and the cluster data the tests write in place of a
sentinel.

KeeperProc starts one keeper (as root with --os-user postgres, so PostgreSQL runs unprivileged) on free ports in
a temp dir traversable by postgres, holds its PID, and always stops it: SIGTERM (the keeper then stops PostgreSQL),
SIGKILL after a timeout, and finally any postmaster left behind, read from postmaster.pid and stopped by PID.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from etcd_fixture import BUILD, free_ports

KEEPER = str(BUILD / "bin" / "bulwark-keeper")
CTL = str(BUILD / "bin" / "bulwarkctl")
STORE_TOOL = str(BUILD / "tools" / "store_tool")
SU_PASSWORD = "su pass'w\\ord"
REPL_PASSWORD = "repl:pw"
CLUSTER = "kt"


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Workspace:
    """A temp dir for keepers, traversable by postgres, with the password files."""

    def __init__(self, owner=None):
        """owner: an OS user to own the dir and password files (keepers started as that user)."""
        self.root = tempfile.mkdtemp(prefix="bk", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.su_pw = os.path.join(self.root, "su.pw")
        self.repl_pw = os.path.join(self.root, "repl.pw")
        for path, pw in ((self.su_pw, SU_PASSWORD), (self.repl_pw, REPL_PASSWORD)):
            with open(path, "w") as f:
                f.write(pw + "\n")
            os.chmod(path, 0o600)
        if owner:
            import pwd
            pw_ent = pwd.getpwnam(owner)
            for path in (self.root, self.su_pw, self.repl_pw):
                os.chown(path, pw_ent.pw_uid, pw_ent.pw_gid)
        self.keepers = []

    def cleanup(self):
        for k in self.keepers:
            k.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class KeeperProc:
    def __init__(self, ws, etcd, uid, extra_args=(), cluster=CLUSTER, run_as=None):
        """run_as: an OS user to start the keeper as (then without --os-user); default: root with --os-user."""
        self.ws = ws
        self.etcd = etcd
        self.uid = uid
        self.cluster = cluster
        self.run_as = run_as
        self.data_dir = os.path.join(ws.root, uid)
        self.pg_port, self.http_port = free_ports(2)
        self.log_path = os.path.join(ws.root, f"{uid}.log")
        self.extra_args = list(extra_args)
        self.store_endpoints = None     # None: the etcd's; set to route this keeper's store traffic elsewhere
        self.proc = None
        ws.keepers.append(self)

    def argv(self):
        return [KEEPER, "--uid", self.uid, "--data-dir", self.data_dir, "--pg-listen-address", "127.0.0.1",
                "--pg-port", str(self.pg_port), "--pg-su-username", "postgres",
                "--pg-su-password-file", self.ws.su_pw, "--pg-repl-username", "repl",
                "--pg-repl-password-file", self.ws.repl_pw, "--http-listen-address", f"127.0.0.1:{self.http_port}",
                *([] if self.run_as else ["--os-user", "postgres"]),
                "--store-endpoints", self.store_endpoints or self.etcd.endpoints, "--cluster-name", self.cluster,
                *self.extra_args]

    def start(self):
        log = open(self.log_path, "a")
        argv = self.argv()
        if self.run_as:
            # setpriv execs, so the PID we hold is the keeper's own
            argv = ["setpriv", f"--reuid={self.run_as}", f"--regid={self.run_as}", "--init-groups", *argv]
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd="/")
        log.close()
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.stop_leftover_postgres()

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data_dir, "postgres", "postmaster.pid")) as f:
                pid = int(f.readline().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def stop_leftover_postgres(self):
        pid = self.postmaster_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown, by PID
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def pg_log(self, tail=30):
        """The last lines of this keeper's PostgreSQL log (<data-dir>/postgres.log): why it did not start, say."""
        try:
            with open(os.path.join(self.data_dir, "postgres.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-tail:])
        except OSError:
            return "(no postgres.log)"

    def logs_for_failure(self, tail=60):
        return (f"---- log of keeper {self.uid} ----\n" + "\n".join(self.log().splitlines()[-tail:]) +
                f"\n---- postgres.log of keeper {self.uid} ----\n{self.pg_log()}")

    def report(self):
        out = subprocess.run([STORE_TOOL, "--endpoints", self.etcd.endpoints, "get",
                              f"/bulwark/{self.cluster}/keepers/{self.uid}"], capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            return None
        line = out.stdout.rstrip("\n")  # "<key> <value> <mod_revision>"
        return json.loads(line[line.index(" ") + 1:line.rindex(" ")])

    def wait_report(self, pred=lambda r: True, timeout=30, what="keeper report"):
        return wait_for(lambda: (lambda r: r if r and pred(r) else None)(self.report()), timeout,
                        f"{what} of {self.uid}")

    def psql(self, sql, check=True, timeout=10):
        env = dict(os.environ, PGPASSWORD=SU_PASSWORD, PGCONNECT_TIMEOUT="3")
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-d", "postgres",
                            "-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, env=env,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"psql on {self.uid}: {r.stderr.strip()}")
        return r.stdout.strip() if r.returncode == 0 else None

    def http(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=3) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code


def db_entry(uid, keeper, generation, role, init_mode, followers=(), follow=None, pg_parameters=None,
             use_pg_rewind=False, status=None):
    spec = {
        "additionalReplicationSlots": [], "additionalWalSenders": 5, "externalSynchronousStandbys": [],
        "followers": sorted(followers), "includePreviousConfig": False, "initMode": init_mode, "keeperUID": keeper,
        "maxStandbys": 5, "pgParameters": pg_parameters or {}, "requestTimeout": "5s", "role": role,
        "synchronousReplication": False, "synchronousStandbys": [], "usePgrewind": use_pg_rewind,
    }
    if follow:
        spec["followConfig"] = {"dbUid": follow, "type": "internal"}
    st = {"currentGeneration": 0, "healthy": False, "listenAddress": "", "olderWalFile": "", "pgParameters": {},
          "port": 0, "synchronousStandbys": [], "systemID": "", "timelineID": 0, "timelinesHistory": [],
          "xLogPos": "0/0"}
    st.update(status or {})
    return {"changeTime": "2026-01-01T00:00:00.000Z", "generation": generation, "spec": spec, "status": st}


def status_from_report(keeper):
    """The DB status a sentinel would copy from a keeper's report."""
    ps = keeper.report()["postgresState"]
    return {"listenAddress": ps["listenAddress"], "port": ps["port"], "systemID": ps.get("systemID", ""),
            "xLogPos": ps.get("xLogPos", "0/0"), "timelineID": ps.get("timelineID", 0), "healthy": ps["healthy"],
            "currentGeneration": ps["generation"]}


def cluster_data(cluster_uid, keepers, dbs, master, spec_extra=None):
    """keepers: {uid: bootUUID}; dbs: {uid: db_entry(...)}."""
    spec = {"initMode": "new"}
    spec.update(spec_extra or {})
    return {
        "changeTime": "2026-01-01T00:00:00.000Z",
        "cluster": {"changeTime": "2026-01-01T00:00:00.000Z", "generation": 1, "spec": spec,
                    "status": {"currentGeneration": 1, "master": master, "phase": "normal"}, "uid": cluster_uid},
        "dbs": dbs,
        "formatVersion": 1,
        "keepers": {uid: {"changeTime": "2026-01-01T00:00:00.000Z", "generation": 1,
                          "status": {"bootUUID": boot, "canBeMaster": True, "canBeSynchronousReplica": True,
                                     "forceFail": False, "healthy": True,
                                     "lastHealthyTime": "2026-01-01T00:00:00.000Z",
                                     "postgresBinaryVersion": {"maj": 15, "min": 0}}}
                    for uid, boot in keepers.items()},
        "proxy": {"changeTime": "2026-01-01T00:00:00.000Z", "generation": 1,
                  "spec": {"enabledProxies": [], "masterDbUid": master, "roDbUids": []}},
    }


def write_cluster_data(etcd, cd):
    env = dict(os.environ, BULWARK_STORE_ENDPOINTS=etcd.endpoints, BULWARK_CLUSTER_NAME=CLUSTER)
    r = subprocess.run([CTL, "clusterdata", "write", "--yes", "-f", "-"], input=json.dumps(cd), capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
