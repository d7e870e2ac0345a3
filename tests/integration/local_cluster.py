"""A whole bulwark cluster on loopback: etcd, keepers, sentinels and proxies as real processes, for the
sentinel's integration tests, bench/failover and scripts/demo.

LocalCluster starts everything on free ports in one temp workspace, holds every PID, and stops everything it
started (keepers stop their PostgreSQL; any postmaster left behind is stopped by PID). Helpers read the cluster
data and reports, wait for a healthy cluster, and kill a "host" (a keeper and its PostgreSQL, SIGKILL).
"""
import json
import os
import signal
import subprocess
import time

import psycopg

from etcd_fixture import BUILD, free_ports
from keeper_fixture import SU_PASSWORD, KeeperProc, Workspace, wait_for

SENTINEL = str(BUILD / "bin" / "bulwark-sentinel")
PROXY = str(BUILD / "bin" / "bulwark-proxy")
CTL = str(BUILD / "bin" / "bulwarkctl")
STORE_TOOL = str(BUILD / "tools" / "store_tool")


class DaemonProc:
    """A sentinel or proxy process we hold by PID."""

    def __init__(self, name, argv, log_path, run_as=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.run_as = run_as
        self.proc = None

    def start(self):
        argv = self.argv
        if self.run_as:
            argv = ["setpriv", f"--reuid={self.run_as}", f"--regid={self.run_as}", "--init-groups", *argv]
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd="/")
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout=15):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""


class LocalCluster:
    def __init__(self, etcd, keepers=3, sentinels=2, proxies=1, spec=None, cluster="lc", run_as=None,
                 keeper_args=(), sentinel_args=(), proxy_args=()):
        self.etcd = etcd
        self.cluster = cluster
        self.run_as = run_as
        self.ws = Workspace(owner=run_as)
        self.spec = spec or {"initMode": "new"}
        self.spec_path = os.path.join(self.ws.root, "spec.json")
        with open(self.spec_path, "w") as f:
            json.dump(self.spec, f)
        os.chmod(self.spec_path, 0o644)
        self.keepers = [KeeperProc(self.ws, etcd, f"keeper{i}", extra_args=keeper_args, cluster=cluster,
                                   run_as=run_as) for i in range(keepers)]
        self.sentinels = []
        for i in range(sentinels):
            http = free_ports(1)[0]
            argv = [SENTINEL, "--cluster-name", cluster, "--store-endpoints", etcd.endpoints, "--uid", f"sentinel{i}",
                    "--initial-cluster-spec", self.spec_path, "--http-listen-address", f"127.0.0.1:{http}",
                    *sentinel_args]
            self.sentinels.append(DaemonProc(f"sentinel{i}", argv, os.path.join(self.ws.root, f"sentinel{i}.log"),
                                             run_as))
        self.proxies = []
        for i in range(proxies):
            port, ro_port, http = free_ports(3)
            argv = [PROXY, "--cluster-name", cluster, "--store-endpoints", etcd.endpoints, "--uid", f"proxy{i}",
                    "--port", str(port), "--ro-port", str(ro_port), "--http-listen-address", f"127.0.0.1:{http}",
                    *proxy_args]
            d = DaemonProc(f"proxy{i}", argv, os.path.join(self.ws.root, f"proxy{i}.log"), run_as)
            d.port, d.ro_port, d.http_port = port, ro_port, http
            self.proxies.append(d)

    # ---- lifecycle ----
    def start(self):
        for s in self.sentinels:
            s.start()
        for k in self.keepers:
            k.start()
        for p in self.proxies:
            p.start()
        return self

    def cleanup(self):
        for p in self.proxies:
            p.stop()
        for s in self.sentinels:
            s.stop()
        self.ws.cleanup()            # keepers: SIGTERM (they stop PostgreSQL), leftovers by PID

    def logs(self, tail=40):
        out = []
        for d in [*self.sentinels, *self.proxies]:
            out.append(f"--- {d.name} ---\n" + "\n".join(d.log().splitlines()[-tail:]))
        for k in self.keepers:
            out.append(k.logs_for_failure(tail))
        return "\n".join(out)

    # ---- reading the store ----
    def ctl(self, *args, check=True, input=None, timeout=30):
        env = dict(os.environ, BULWARK_STORE_ENDPOINTS=self.etcd.endpoints, BULWARK_CLUSTER_NAME=self.cluster)
        r = subprocess.run([CTL, *args], capture_output=True, text=True, env=env, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"bulwarkctl {' '.join(args)}: {r.stderr}")
        return r

    def clusterdata(self):
        r = self.ctl("clusterdata", "read", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def keeper(self, uid):
        return next(k for k in self.keepers if k.uid == uid)

    def master_db(self, cd=None):
        cd = cd or self.clusterdata()
        if not cd:
            return None
        uid = cd["cluster"]["status"]["master"]
        return (uid, cd["dbs"][uid]) if uid and uid in cd["dbs"] else None

    def master_keeper(self, cd=None):
        m = self.master_db(cd)
        return self.keeper(m[1]["spec"]["keeperUID"]) if m else None

    def standby_dbs(self, cd=None):
        cd = cd or self.clusterdata()
        master = cd["cluster"]["status"]["master"]
        return {uid: db for uid, db in cd["dbs"].items() if uid != master and db["spec"]["role"] == "standby"}

    def healthy(self, standbys):
        """True when the master accepts writes, `standbys` standbys stream from it and every proxy routes to it."""
        cd = self.clusterdata()
        if not cd or cd["cluster"]["status"]["phase"] != "normal":
            return False
        mk = self.master_keeper(cd)
        if mk is None or mk.psql("select pg_is_in_recovery()", check=False) != "f":
            return False
        # bulwark_<db> only: a base backup's own WAL stream shows up as "streaming" too
        streaming = mk.psql("select count(*) from pg_stat_replication where state = 'streaming'"
                            " and application_name like 'bulwark\\_%'", check=False)
        if streaming is None or int(streaming) < standbys:
            return False
        # every DB converged and healthy in the sentinel's view
        for db in cd["dbs"].values():
            if not db["status"].get("healthy") or db["status"].get("currentGeneration") != db["generation"]:
                return False
        if cd["proxy"]["spec"]["masterDbUid"] != cd["cluster"]["status"]["master"]:
            return False
        for p in self.proxies:
            try:
                with self.proxy_connect(p, timeout=2) as c:
                    if c.execute("select pg_is_in_recovery()").fetchone()[0]:
                        return False
            except psycopg.Error:
                return False
        return True

    def wait_healthy(self, standbys=None, timeout=90):
        n = len(self.keepers) - 1 if standbys is None else standbys
        try:
            return wait_for(lambda: self.healthy(n), timeout, f"a healthy cluster with {n} streaming standbys",
                            interval=0.3)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.logs()}") from None

    # ---- clients ----
    def proxy_connect(self, proxy=None, ro=False, timeout=3):
        p = proxy or self.proxies[0]
        return psycopg.connect(host="127.0.0.1", port=p.ro_port if ro else p.port, user="postgres",
                               password=SU_PASSWORD, dbname="postgres", connect_timeout=timeout, autocommit=True)

    def direct_connect(self, keeper, timeout=3):
        return psycopg.connect(host="127.0.0.1", port=keeper.pg_port, user="postgres", password=SU_PASSWORD,
                               dbname="postgres", connect_timeout=timeout, autocommit=True)

    # ---- faults ----
    def kill_host(self, keeper):
        """Host death: SIGKILL the keeper and its PostgreSQL (the postmaster; its children exit with it)."""
        pid = keeper.postmaster_pid()
        keeper.kill()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pid

    def leader_sentinel(self):
        r = subprocess.run([STORE_TOOL, "--endpoints", self.etcd.endpoints, "get", f"/bulwark/{self.cluster}/leader"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None
        value = r.stdout.rstrip("\n")
        value = value[value.index(" ") + 1:value.rindex(" ")]
        return next((s for s in self.sentinels if s.name in value), None)

    def history(self):
        r = self.ctl("history", "--json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None


def wait_until(pred, timeout, what, interval=0.1):
    return wait_for(pred, timeout, what, interval)


def monotonic_ms():
    return int(time.monotonic() * 1000)
