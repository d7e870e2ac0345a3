#!/usr/bin/python3
"""bulwark chaos harness: a whole cluster, one network namespace per host, under a write workload, with faults at
random (seeded) and a checker at the end. See docs/chaos.md.

  scripts/chaos --duration 10m --seed 7 [--sync|--async] [--sentinels 3] [--proxies 2] [--keep-logs DIR]

Every namespace is named <run id>-<host>, every process is held by PID, and everything is torn down at the end,
also on an error, SIGTERM or Ctrl-C. Exit code: 0 PASS, 1 FAIL, 2 the harness itself could not run.
"""
import argparse
import datetime
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "build" / "bin"
AGENT = str(Path(__file__).resolve().parent / "agent.py")
DELAYPROXY = str(Path(__file__).resolve().parent / "delayproxy.py")
DELAY_PORT = 7999
PY = "/usr/bin/python3"
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
CLUSTER = "chaos"
SU_PASSWORD = "chaos-su-pw"
REPL_PASSWORD = "chaos-repl-pw"
PROXY_TIMEOUT = 3.0


def stop_proc(proc, timeout):
    """SIGTERM, then SIGKILL after timeout seconds; waits for the process either way."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(*argv, check=True, timeout=30, capture=True):
    r = subprocess.run(argv, capture_output=capture, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r


def parse_duration(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)?", s)
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {s!r} (e.g. 120s, 10m)")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


class Host:
    """One network namespace with one component (and, for a keeper, its PostgreSQL)."""

    def __init__(self, h, name, kind, ip):
        self.h, self.name, self.kind, self.ip = h, name, kind, ip
        self.ns = f"{h.rid}-{name}"
        self.proc = None
        self.argv = None
        self.partitioned = False
        self.paused = []
        self.log_path = h.ws / f"{name}.log"
        # keepers and proxies send every outgoing TCP connection through a delay proxy (latency faults)
        self.delayed = kind in ("keeper", "proxy")
        self.delay_ctl = h.ws / f"delay-{name}"
        self.delay_proc = None

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.ns, *argv]

    def setup_delay(self):
        """The redirect of this host's outgoing TCP to its delay proxy (which marks its own connections)."""
        self.delay_ctl.write_text("0\n")
        t = f"chaosdelay{self.h.rid}"
        for c in (f"add table ip {t}",
                  f"add chain ip {t} out {{ type nat hook output priority -100; policy accept; }}",
                  f"add rule ip {t} out meta mark 0x4b1 return",
                  f"add rule ip {t} out ip daddr {self.h.subnet}.0/24 ip daddr != {self.ip} meta l4proto tcp "
                  f"redirect to :{DELAY_PORT}"):
            run("ip", "netns", "exec", self.ns, "nft", c)

    def set_delay(self, ms):
        self.delay_ctl.write_text(f"{ms:.0f}\n")

    def start(self):
        with open(self.log_path, "a") as f:
            f.write(f"==== start {time.strftime('%H:%M:%S')}\n")
            f.flush()
            if self.delayed and (self.delay_proc is None or self.delay_proc.poll() is not None):
                self.delay_proc = subprocess.Popen(
                    self.exec_argv([PY, DELAYPROXY, "--port", str(DELAY_PORT), "--control", str(self.delay_ctl)]),
                    stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, cwd="/")
                time.sleep(0.3)    # listening before the daemon's first connection
            # ip netns exec execs, and so does setpriv: the PID we hold is the daemon's own
            self.proc = subprocess.Popen(self.exec_argv(self.argv), stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, cwd="/")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ns_pids(self):
        r = run("ip", "netns", "pids", self.ns, check=False)
        return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []

    def signal_all(self, sig):
        for pid in self.ns_pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait(10)

    def postmaster_pid(self):
        try:
            with open(self.h.ws / self.name / "postgres" / "postmaster.pid") as f:
                pid = int(f.readline())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def stop(self):
        """SIGCONT, SIGTERM (a keeper stops its PostgreSQL), then SIGKILL of whatever is left in the namespace."""
        self.signal_all(signal.SIGCONT)
        if self.running():
            stop_proc(self.proc, 15)
        deadline = time.monotonic() + 5
        while self.ns_pids() and time.monotonic() < deadline:
            if self.kind == "keeper" and self.postmaster_pid():
                os.kill(self.postmaster_pid(), signal.SIGQUIT)
            time.sleep(0.2)
        self.signal_all(signal.SIGKILL)
        if self.delay_proc is not None:
            self.delay_proc.wait(10)

    # ---- partitions: one nft table in the host's own namespace ----
    def partition(self, only=None, direction="both"):
        """Drops this host's traffic with every other host (or only with the hosts in `only`); direction "in"
        or "out" drops one way only (an asymmetric partition: it can send but not hear, or the reverse)."""
        t = f"chaos{self.h.rid}"
        cmds = [f"add table inet {t}",
                f"add chain inet {t} input {{ type filter hook input priority 0; policy accept; }}",
                f"add chain inet {t} output {{ type filter hook output priority 0; policy accept; }}"]
        if only:
            s = ", ".join(only)
            rules = [f"add rule inet {t} input ip saddr {{ {s} }} drop",
                     f"add rule inet {t} output ip daddr {{ {s} }} drop"]
        else:
            rules = [f"add rule inet {t} input iifname != \"lo\" drop",
                     f"add rule inet {t} output oifname != \"lo\" drop"]
        cmds += rules if direction == "both" else [rules[0] if direction == "in" else rules[1]]
        for c in cmds:
            run("ip", "netns", "exec", self.ns, "nft", c)
        self.partitioned = True

    def heal(self):
        if self.partitioned:
            run("ip", "netns", "exec", self.ns, "nft", "delete", "table", "inet", f"chaos{self.h.rid}", check=False)
            self.partitioned = False


class Harness:
    def __init__(self, a):
        self.a = a
        self.rid = "bk" + secrets.token_hex(2)
        self.rng = random.Random(a.seed)
        self.ws = Path(tempfile.mkdtemp(prefix=f"chaos-{self.rid}-", dir="/tmp"))
        os.chmod(self.ws, 0o755)
        # the agent runs as nobody, which may not be able to traverse the checkout (a 0700 clone): a copy it can read
        self.agent_path = str(self.ws / "agent.py")
        shutil.copy(AGENT, self.agent_path)
        os.chmod(self.agent_path, 0o644)
        self.subnet = f"10.{self.rng.randint(64, 250)}.{self.rng.randint(0, 250)}"
        self.hosts = []
        self.namespaces = []
        self.workload = None
        self.faults = []           # (kind, target, t_start, t_end)
        self.restarts = 0
        self.torn_down = False
        self.online_bad = []       # invariant violations seen during the run (check_protocol)
        self.next_online_check = 0
        self.online_pos = 0
        self.online_cds, self.online_pxs = [], []

    # ---------------- setup ----------------
    def add_host(self, name, kind):
        h = Host(self, name, kind, f"{self.subnet}.{len(self.hosts) + 1}")
        self.hosts.append(h)
        return h

    def hosts_of(self, kind):
        return [h for h in self.hosts if h.kind == kind]

    def make_network(self):
        sw = f"{self.rid}-sw"
        run("ip", "netns", "add", sw)
        self.namespaces.append(sw)
        run("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", sw, "link", "set", "br0", "up")
        for i, h in enumerate(self.hosts):
            run("ip", "netns", "add", h.ns)
            self.namespaces.append(h.ns)
            veth = f"{self.rid}v{i}"
            run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
            run("ip", "link", "set", veth, "netns", sw)
            run("ip", "-n", sw, "link", "set", veth, "master", "br0")
            run("ip", "-n", sw, "link", "set", veth, "up")
            run("ip", "-n", h.ns, "addr", "add", f"{h.ip}/24", "dev", "eth0")
            run("ip", "-n", h.ns, "link", "set", "eth0", "up")
            run("ip", "-n", h.ns, "link", "set", "lo", "up")

    def setup(self):
        a = self.a
        for i in range(3):
            self.add_host(f"e{i + 1}", "etcd")
        for i in range(3):
            self.add_host(f"k{i + 1}", "keeper")
        for i in range(a.sentinels):
            self.add_host(f"s{i + 1}", "sentinel")
        for i in range(a.proxies):
            self.add_host(f"p{i + 1}", "proxy")
        self.client = self.add_host("c", "client")
        self.make_network()
        log(f"run {self.rid}: {len(self.hosts)} namespaces on {self.subnet}.0/24, workspace {self.ws}")

        self.su_pw, self.repl_pw = self.ws / "su.pw", self.ws / "repl.pw"
        for path, pw in ((self.su_pw, SU_PASSWORD), (self.repl_pw, REPL_PASSWORD)):
            path.write_text(pw + "\n")
            os.chmod(path, 0o644)   # read by the nobody-run workload; a private test password
        spec = {"initMode": "new", "synchronousReplication": a.mode == "sync", "usePgrewind": True}
        if a.mode == "sync":
            spec.update(minSynchronousStandbys=1, maxSynchronousStandbys=1)
        self.spec = spec
        (self.ws / "spec.json").write_text(json.dumps(spec))
        os.chmod(self.ws / "spec.json", 0o644)

        etcds = self.hosts_of("etcd")
        initial = ",".join(f"{h.name}=http://{h.ip}:2380" for h in etcds)
        self.endpoints = ",".join(f"http://{h.ip}:2379" for h in etcds)
        self.etcd_eps = ",".join(f"{h.ip}:2379" for h in etcds)
        for h in etcds:
            d = self.ws / h.name
            d.mkdir(mode=0o700)
            shutil.chown(d, "etcd", "etcd")
            h.argv = ["setpriv", "--reuid=etcd", "--regid=etcd", "--init-groups", ETCD, "--name", h.name,
                      "--data-dir", str(d), "--listen-client-urls", f"http://{h.ip}:2379,http://127.0.0.1:2379",
                      "--advertise-client-urls", f"http://{h.ip}:2379", "--listen-peer-urls", f"http://{h.ip}:2380",
                      "--initial-advertise-peer-urls", f"http://{h.ip}:2380", "--initial-cluster", initial,
                      "--initial-cluster-state", "new", "--initial-cluster-token", self.rid,
                      "--heartbeat-interval", "100", "--election-timeout", "1000",
                      "--experimental-watch-progress-notify-interval", "1s"]
        store = ["--store-endpoints", self.endpoints, "--cluster-name", CLUSTER]
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        for h in self.hosts_of("keeper"):
            h.argv = [str(BIN / "bulwark-keeper"), "--uid", h.name, "--data-dir", str(self.ws / h.name),
                      "--pg-listen-address", h.ip, "--pg-port", "5432", "--pg-su-username", "postgres",
                      "--pg-su-password-file", str(self.su_pw), "--pg-repl-username", "repl",
                      "--pg-repl-password-file", str(self.repl_pw), "--http-listen-address", f"{h.ip}:8008",
                      "--os-user", "postgres", *store]
        for h in self.hosts_of("sentinel"):
            h.argv = [*nobody, str(BIN / "bulwark-sentinel"), "--uid", h.name, "--initial-cluster-spec",
                      str(self.ws / "spec.json"), "--http-listen-address", f"{h.ip}:8009", *store]
        for h in self.hosts_of("proxy"):
            h.argv = [*nobody, str(BIN / "bulwark-proxy"), "--uid", h.name, "--listen-address", h.ip,
                      "--port", "5432", "--ro-port", "5433", "--http-listen-address", f"{h.ip}:8010", *store]

        for h in self.hosts:
            if h.delayed:
                h.setup_delay()
        for h in etcds:
            h.start()
        for kind in ("sentinel", "keeper", "proxy"):
            for h in self.hosts_of(kind):
                h.start()

    # ---------------- the client namespace ----------------
    def agent(self, *args, timeout=30):
        argv = ["ip", "netns", "exec", self.client.ns, "setpriv", "--reuid=nobody", "--regid=nogroup",
                "--clear-groups", PY, self.agent_path, *args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")
        if r.returncode != 0:
            raise RuntimeError(f"agent {args[0]}: {r.stderr.strip()[-400:]}")
        return r.stdout

    def probe(self, setup=None, proxies=False):
        args = ["probe", "--pgs", ",".join(h.ip for h in self.hosts_of("keeper")), "--etcd", self.etcd_eps,
                "--cluster", CLUSTER, "--password-file", str(self.su_pw)]
        if proxies:
            args += ["--proxies", ",".join(f"{h.ip}:5432" for h in self.hosts_of("proxy"))]
        if setup:
            args += ["--setup", setup]
        return json.loads(self.agent(*args))

    def converged(self):
        """Master writable, every DB healthy and converged, every standby streaming, every proxy on the master."""
        try:
            p = self.probe(proxies=True)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            return False, str(e)[-200:]
        cd = p["cd"]
        if not cd or cd["cluster"]["status"].get("phase") != "normal":
            return False, "no cluster data / phase not normal"
        m = cd["cluster"]["status"].get("master")
        if not m or m not in cd["dbs"] or cd["proxy"]["spec"].get("masterDbUid") != m:
            return False, f"master {m!r}, proxy {cd['proxy']['spec'].get('masterDbUid')!r}"
        if len(cd["dbs"]) < 3:
            return False, f"{len(cd['dbs'])} dbs"
        for uid, db in cd["dbs"].items():
            if not db["status"].get("healthy") or db["status"].get("currentGeneration") != db["generation"]:
                return False, f"db {uid} not healthy/converged"
        mip = cd["dbs"][m]["status"].get("listenAddress")
        for ip, st in p["pgs"].items():
            if not st.get("up"):
                return False, f"{ip} down"
            if ip == mip and st["recovery"]:
                return False, "master in recovery"
            if ip != mip and (not st["recovery"] or st.get("wal") != "streaming"):
                return False, f"{ip} not a streaming standby"
        for px, v in p.get("proxies", {}).items():
            if not isinstance(v, list) or v[0].split("/")[0] != mip or v[1]:
                return False, f"proxy {px}: {v}"
        return True, p

    def wait_converged(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            ok, last = self.converged()
            if ok:
                return last
            time.sleep(1)
        raise TimeoutError(f"cluster not converged after {timeout:.0f}s: {last}")

    def start_workload(self):
        self.events = self.ws / "events.jsonl"
        self.events.touch()
        shutil.chown(self.events, "nobody", "nogroup")
        ps = self.hosts_of("proxy")
        argv = ["ip", "netns", "exec", self.client.ns, "setpriv", "--reuid=nobody", "--regid=nogroup",
                "--clear-groups", PY, self.agent_path, "workload", "--proxies", ",".join(f"{h.ip}:5432" for h in ps),
                "--ro", ",".join(f"{h.ip}:5433" for h in ps), "--etcd", self.etcd_eps, "--cluster", CLUSTER,
                "--clients", str(self.a.clients), "--readers", str(self.a.readers),
                "--direct", ",".join(f"{h.ip}:8008:5432" for h in self.hosts_of("keeper")), "--password-file",
                str(self.su_pw), "--out", str(self.events)]
        with open(self.ws / "workload.log", "a") as f:
            self.workload = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                             cwd="/")

    def stop_workload(self):
        if self.workload and self.workload.poll() is None:
            stop_proc(self.workload, 20)

    # ---------------- faults ----------------
    def leader_sentinel(self):
        try:
            v = self.probe().get("leader") or ""
        except (RuntimeError, subprocess.TimeoutExpired, ValueError):
            return None
        return next((h for h in self.hosts_of("sentinel") if h.name in v), None)

    def pick(self, hosts):
        return self.rng.choice(hosts)

    # ---- the faults: one table of (name, weight, inject); see FAULTS below the class ----
    def begin_fault(self, busy, kind=None):
        """Injects one fault (kind, else one drawn by weight) on hosts not in busy. Returns (record, hosts, hold
        seconds, undo) or None when it does not apply now."""
        fault = FAULT_BY_NAME[kind] if kind else self.rng.choices(FAULTS, [f.weight for f in FAULTS])[0]
        free = [x for x in self.hosts if x.kind != "client" and x not in busy]
        got = fault.inject(self, free)
        if got is None:
            return None
        hosts, hold, detail, undo = got
        target = ",".join(h.name for h in hosts)
        log(f"fault {fault.name} {target} ({detail}) for {hold:.1f}s")
        return {"kind": fault.name, "target": target, "detail": detail, "t0": time.time()}, hosts, hold, undo

    def restart_if_down(self, h):
        def undo():
            if not h.running():
                h.start()
                self.restarts += 1
        return undo

    def inject_faults(self, duration):
        """Faults one after another, and with probability --overlap a second one while the first holds. The faults
        named by --include come first, once each, so that a short run is sure to have them."""
        end = time.monotonic() + duration
        active = []               # (t_end, record, hosts, undo)
        forced = list(self.a.include)
        next_start = time.monotonic()
        while time.monotonic() < end or active:
            now = time.monotonic()
            for f in [f for f in active if f[0] <= now]:
                active.remove(f)
                f[3]()
                f[1]["t1"] = time.time()
                self.faults.append(f[1])
            if now < end and now >= next_start and len(active) < 2:
                busy = {h for f in active for h in f[2]}
                kind = forced[0] if forced and not active else None
                got = self.begin_fault(busy, kind)
                if kind and got:
                    forced.pop(0)
                if got:
                    rec, hosts, hold, undo = got
                    active.append((now + hold, rec, hosts, undo))
                    if len(active) < 2 and self.rng.random() < self.a.overlap:
                        next_start = now + self.rng.uniform(0.5, hold)
                    else:
                        next_start = float("inf")
            if not active and next_start == float("inf"):
                next_start = now + self.rng.uniform(1, 4)
            if self.workload.poll() is not None:
                raise RuntimeError("the workload exited early; see workload.log")
            if now >= self.next_online_check:
                self.next_online_check = now + 30
                self.online_check()
            time.sleep(0.1)

    def sleep(self, s):
        time.sleep(s)

    def heal_all(self):
        for h in self.hosts:
            h.heal()
            if h.delayed:
                h.set_delay(0)
            h.signal_all(signal.SIGCONT)
            if h.kind != "client" and not h.running():
                h.start()

    def online_check(self):
        """check_protocol on what was recorded so far: a violation is logged the moment it is seen."""
        try:
            with open(self.events) as f:
                f.seek(self.online_pos)
                for line in f:
                    if not line.endswith("\n"):
                        break               # a line still being written: read it next time
                    self.online_pos += len(line.encode())
                    if '"k":"cd"' in line or '"k":"px"' in line:
                        e = json.loads(line)
                        (self.online_cds if e["k"] == "cd" else self.online_pxs).append(e)
        except (OSError, ValueError):
            return
        _, bad = check_protocol(self.online_cds, self.online_pxs, keeper_logs(self))
        for b in bad:
            if b not in self.online_bad:
                self.online_bad.append(b)
                log(f"VIOLATION (online check): {b}")

    # ---------------- teardown ----------------
    def teardown(self):
        if self.torn_down:
            return
        self.torn_down = True
        try:
            self.stop_workload()
        except Exception as e:  # noqa: BLE001
            log(f"teardown: workload: {e}")
        order = {"proxy": 0, "sentinel": 1, "keeper": 2, "client": 3, "etcd": 4}
        for h in sorted(self.hosts, key=lambda x: order[x.kind]):
            try:
                h.heal()
                h.stop()
            except Exception as e:  # noqa: BLE001
                log(f"teardown: {h.name}: {e}")
        for ns in reversed(self.namespaces):
            run("ip", "netns", "del", ns, check=False)
        if self.a.keep_logs:
            dest = Path(self.a.keep_logs) / self.rid
            dest.mkdir(parents=True, exist_ok=True)
            for f in self.ws.glob("*.log"):
                shutil.copy(f, dest)
            for f in ("events.jsonl", "report.json"):
                if (self.ws / f).exists():
                    shutil.copy(self.ws / f, dest)
            log(f"logs kept in {dest}")
        shutil.rmtree(self.ws, ignore_errors=True)

    # ---------------- the run ----------------
    def run(self):
        a = self.a
        self.setup()
        log("waiting for the cluster to converge")
        self.wait_converged(180)
        for h in self.hosts_of("proxy"):
            try:
                self.probe(setup=f"{h.ip}:5432")
                break
            except RuntimeError as e:
                log(f"setup through {h.name}: {e}")
        else:
            raise RuntimeError("could not create the workload's tables")
        self.start_workload()
        self.t_start = time.time()
        log(f"workload started; faults for {a.duration:.0f}s")
        time.sleep(3)
        self.inject_faults(a.duration)
        log("healing everything; waiting for convergence")
        self.heal_all()
        t_heal = time.time()
        # a cluster that does not converge is one more failure of the run, not a reason to skip its checks:
        # the lost-write and invariant checks still run, on whatever master there is
        self.not_converged = None
        try:
            self.wait_converged(240)
        except TimeoutError as e:
            self.not_converged = str(e)
            log(f"NOT CONVERGED: {e}")
        self.converge_s = time.time() - t_heal
        time.sleep(2)
        self.stop_workload()
        self.t_end = time.time()
        # every standby reaches the master's LSN once writes stop
        lsn_ok, lsn_detail = False, None
        deadline = time.monotonic() + (60 if self.not_converged is None else 10)
        while time.monotonic() < deadline:
            try:
                p = self.probe()
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                lsn_detail = {"probe": str(e)[-200:]}
                time.sleep(1)
                continue
            m = [ip for ip, s in p["pgs"].items() if s.get("up") and not s["recovery"]]
            if len(m) == 1:
                mlsn = lsn_int(p["pgs"][m[0]]["lsn"])
                lag = {ip: mlsn - lsn_int(s.get("replay") or "0/0") for ip, s in p["pgs"].items() if ip != m[0]}
                lsn_detail = {"master": m[0], "lag_bytes": lag}
                if all(v <= 0 for v in lag.values()):
                    lsn_ok = True
                    break
            else:
                lsn_detail = {"masters": m}
            time.sleep(1)
        master_ip = (lsn_detail or {}).get("master")
        if not master_ip:
            try:
                cd = self.probe()["cd"]
                master_ip = cd["dbs"][cd["cluster"]["status"]["master"]]["status"]["listenAddress"]
            except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError) as e:
                log(f"no master to read the final state from: {e}")
        final = None
        if master_ip:
            try:
                final = json.loads(self.agent("final", "--host", master_ip, "--password-file", str(self.su_pw),
                                              timeout=60))
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                log(f"could not read the final state from {master_ip}: {e}")
        return check(self, final, master_ip, lsn_ok, lsn_detail)


# ---------------- the faults ----------------
# Each inject(harness, free hosts) starts one fault and returns (hosts it occupies, hold seconds, detail, undo), or
# None when it cannot apply now (no free host of the kind).

def _restart(hn, h):
    return hn.restart_if_down(h)


def f_kill_keeper(hn, free, how="keeper"):
    keepers = [x for x in free if x.kind == "keeper"]
    if not keepers:
        return None
    h = hn.pick(keepers)
    hold = hn.rng.uniform(2, 8)
    if how == "pg":
        pid = h.postmaster_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
    elif how == "keeper":
        h.kill()
    else:
        h.kill()
        h.signal_all(signal.SIGKILL)
    return [h], hold, f"restart in {hold:.1f}s", _restart(hn, h)


def f_kill_daemon(hn, free, kind):
    hs = [x for x in free if x.kind == kind]
    if not hs:
        return None
    h = None
    if kind == "sentinel" and hn.rng.random() < 0.7:
        h = hn.leader_sentinel()
        h = h if h in hs else None
    h = h or hn.pick(hs)
    hold = hn.rng.uniform(2, 8)
    h.kill()
    return [h], hold, f"restart in {hold:.1f}s", _restart(hn, h)


def f_pause(hn, free):
    h = hn.pick(free)
    hold = hn.rng.uniform(1, 6)
    h.signal_all(signal.SIGSTOP)
    return [h], hold, "SIGSTOP of every process", lambda: h.signal_all(signal.SIGCONT)


def f_delay(hn, free):
    hs = [x for x in free if x.delayed]
    if not hs:
        return None
    h = hn.pick(hs)
    ms = hn.rng.choice([hn.rng.uniform(20, 200), hn.rng.uniform(200, 1200)])
    h.set_delay(ms)
    return [h], hn.rng.uniform(2, 8), f"{ms:.0f} ms added to each direction of its outgoing connections", \
        lambda: h.set_delay(0)


def f_partition(hn, free, how):
    if how == "etcd":
        cands = [x for x in free if x.kind != "etcd"]
    elif how == "pair":
        cands = [x for x in free if x.kind in ("keeper", "sentinel", "proxy")]
    else:
        cands = free
    if not cands:
        return None
    h = hn.pick(cands)
    if how == "etcd":
        h.partition(only=[x.ip for x in hn.hosts_of("etcd")])
        detail = "from the etcd members"
    elif how == "pair":
        # a partial partition: h and one peer cannot talk; everyone else still sees both
        peers = [x for x in hn.hosts if x.kind in ("keeper", "sentinel", "proxy", "etcd") and x is not h]
        peer = hn.pick(peers)
        h.partition(only=[peer.ip])
        detail = f"from {peer.name} only"
    elif how == "oneway":
        direction = hn.rng.choice(["in", "out"])
        h.partition(direction=direction)
        detail = "drops everything it receives" if direction == "in" else "drops everything it sends"
    else:
        h.partition()
        detail = "from every other host"
    return [h], hn.rng.uniform(2, 8), detail, h.heal


def f_master_cut_from_store(hn, free):
    """The master's keeper host cut from the etcd members only: it must fence itself before another is promoted;
    the other keepers reach the store and refuse it the failsafe."""
    try:
        p = hn.probe()
        cd = p["cd"]
        mip = cd["dbs"][cd["cluster"]["status"]["master"]]["status"]["listenAddress"]
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return None
    h = next((x for x in free if x.kind == "keeper" and x.ip == mip), None)
    if h is None:
        return None
    h.partition(only=[x.ip for x in hn.hosts_of("etcd")])
    return [h], hn.rng.uniform(5, 15), "the master's keeper, from the etcd members only", h.heal


def f_store_down(hn, free):
    """Every etcd member killed or paused for 30-90 s (--store-down-seconds): the cluster keeps serving on the
    failsafe, with no failover."""
    etcds = hn.hosts_of("etcd")
    if any(x not in free for x in etcds):
        return None
    lo, hi = hn.a.store_down_seconds
    hold = hn.rng.uniform(lo, hi)
    if hn.rng.random() < 0.5:
        for h in etcds:
            h.kill()

        def undo():
            for h in etcds:
                if not h.running():
                    h.start()
                    hn.restarts += 1
        return etcds, hold, "every member killed", undo
    for h in etcds:
        h.signal_all(signal.SIGSTOP)

    def undo_pause():
        for h in etcds:
            h.signal_all(signal.SIGCONT)
    return etcds, hold, "every member paused (SIGSTOP)", undo_pause


class Fault:
    def __init__(self, name, weight, inject):
        self.name, self.weight, self.inject = name, weight, inject


FAULTS = [
    Fault("kill_keeper", 2, lambda hn, free: f_kill_keeper(hn, free, "keeper")),
    Fault("kill_pg", 2, lambda hn, free: f_kill_keeper(hn, free, "pg")),
    Fault("kill_host", 3, lambda hn, free: f_kill_keeper(hn, free, "host")),
    Fault("kill_sentinel", 2, lambda hn, free: f_kill_daemon(hn, free, "sentinel")),
    Fault("kill_proxy", 1, lambda hn, free: f_kill_daemon(hn, free, "proxy")),
    Fault("kill_etcd", 1, lambda hn, free: f_kill_daemon(hn, free, "etcd")),
    Fault("pause", 2, f_pause),
    Fault("partition_all", 3, lambda hn, free: f_partition(hn, free, "all")),
    Fault("partition_etcd", 2, lambda hn, free: f_partition(hn, free, "etcd")),
    Fault("partition_oneway", 2, lambda hn, free: f_partition(hn, free, "oneway")),
    Fault("partition_pair", 2, lambda hn, free: f_partition(hn, free, "pair")),
    Fault("delay", 2, f_delay),
    Fault("master_cut_from_store", 2, f_master_cut_from_store),
    Fault("store_down", 0.5, f_store_down),
]
FAULT_BY_NAME = {f.name: f for f in FAULTS}


def lsn_int(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def parse_history(hist):
    """{timeline that ended: switch LSN} from the master's .history files."""
    out = {}
    for text in hist.values():
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit():
                out[int(parts[0])] = lsn_int(parts[1])
    return out


KEEPER_LOG = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z \w+\s+bulwark-keeper: (.*)$")
PG_RUN = re.compile(r"^starting postgres$|^running \S+/(?:pg_ctl start|pg_ctl promote|initdb|pg_rewind|pg_basebackup) ")


def keeper_logs(hn):
    """{keeper: [(unix time, message)]} from the keepers' logs (the keepers log UTC with milliseconds)."""
    out = {}
    for h in hn.hosts_of("keeper"):
        evs = []
        try:
            with open(h.log_path, errors="replace") as f:
                for line in f:
                    m = KEEPER_LOG.match(line)
                    if m:
                        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
                        evs.append((t.replace(tzinfo=datetime.timezone.utc).timestamp(), m.group(2)))
        except OSError:
            pass
        out[h.name] = evs
    return out


def check_protocol(cds, pxs, klogs, proxy_timeout=PROXY_TIMEOUT, slack=2.0):
    """The invariants that need no data: I1 on every cluster data version; I3 on every routing to a new master
    (every proxy that was reporting had acknowledged "no master"); I5 on every promotion (the cluster data made
    that DB master on that keeper first); I6 on every keeper start (no PostgreSQL run before the cluster data
    showed the sentinel had seen the new boot), from the watcher's first version on. Returns ({invariant: cases checked}, [violations]).
    Times: the harness's watcher receives a version a few ms after the keepers do; `slack` covers that."""
    counts = {"I1": len(cds), "I3": 0, "I5": 0, "I6": 0}
    bad = []
    for c in cds:
        if sum(1 for r in c["cd"]["roles"].values() if r == "master") > 1:
            bad.append(f"I1: two masters in cluster data rev {c['rev']}")

    # I3: replay cluster data versions and proxy reports in revision order
    reports = {}              # proxy uid -> [(t, generation)] (generation None: key deleted, lease expired)
    nomaster_gen = None
    routed_to = None
    for e in sorted(cds + pxs, key=lambda x: (x["rev"], 0 if x["k"] == "px" else 1)):
        if e["k"] == "px":
            reports.setdefault(e["uid"], []).append((e["t"], e["gen"]))
            continue
        cd = e["cd"]
        pm = cd["proxyMaster"]
        if not pm:
            if nomaster_gen is None:
                nomaster_gen = cd.get("proxyGen")
            continue
        if pm != routed_to and nomaster_gen is not None:
            counts["I3"] += 1
            for puid in cd.get("enabledProxies", []):
                recent = [(t, g) for t, g in reports.get(puid, []) if e["t"] - proxy_timeout <= t <= e["t"]]
                if recent and all(g is not None for _, g in recent) and \
                        max(g for _, g in recent) < nomaster_gen:
                    bad.append(f"I3: rev {e['rev']} routed to {pm} while proxy {puid} kept reporting generation "
                               f"{max(g for _, g in recent)} < {nomaster_gen} (the \"no master\" generation)")
        routed_to = pm
        nomaster_gen = None

    t_first = min((c["t"] for c in cds), default=float("inf"))
    for k, evs in klogs.items():
        boot = None
        checked = True
        for t, msg in evs:
            m = re.search(r"keeper started uid=\S+ boot_uuid=(\S+)", msg)
            if m:
                boot, checked = m.group(1), False
                continue
            if t < t_first:         # before the watcher's first version: nothing to check against
                checked = checked or bool(PG_RUN.search(msg))
                continue
            m = re.search(r"promoting (?:stopped )?postgres db=(\w+)", msg)
            if m:
                counts["I5"] += 1
                db = m.group(1)
                if not any(c["t"] <= t + slack and c["cd"]["roles"].get(db) == "master"
                           and c["cd"]["keeper"].get(db) == k for c in cds):
                    bad.append(f"I5: keeper {k} promoted db {db} at {t:.3f} with no cluster data making it master")
            if boot and not checked and PG_RUN.search(msg):
                checked = True
                counts["I6"] += 1
                if not any(c["t"] <= t + slack and c["cd"].get("boots", {}).get(k) == boot for c in cds):
                    bad.append(f"I6: keeper {k} (boot {boot}) ran \"{msg[:60]}\" at {t:.3f} before the cluster "
                               f"data showed that boot")
    return counts, bad


def failover_durations(cds, writes, addr, t_start):
    """One entry per change of the cluster data's master: the time from the last write acknowledged (by any
    server) before the change to the first write the new master acknowledged while it was still the master
    (before the next change): the gap a client sees. None when the new master took no write before it was
    replaced; the next change is then timed from the same last write, so chained failovers add up."""
    changes = []
    prev = None
    for c in cds:
        m = c["cd"]["master"]
        if m and m != prev:
            changes.append((c, m))
            prev = m
    out = []
    for i in range(1, len(changes)):
        pm, (c, m) = changes[i - 1][1], changes[i]
        t_end = changes[i + 1][0]["t"] if i + 1 < len(changes) else float("inf")
        new_ip = addr(c, m)
        before = [e["t1"] for e in writes if e["t1"] <= c["t"]]
        after = [e["t1"] for e in writes if e["srv"] == new_ip and c["t"] <= e["t1"] < t_end]
        out.append({"from": pm, "to": m, "at": round(c["t"] - t_start, 2),
                    "duration": round(min(after) - max(before), 2) if before and after else None})
    return out


def timeline_reuse(windows):
    """Timelines on which more than one server acknowledged writes. Every promotion starts a new timeline, so a
    timeline written by two servers means one of them became primary without one: two different histories under
    one timeline ID. windows: {(server, timeline): [...]}."""
    servers = {}
    for srv, tl in windows:
        servers.setdefault(tl, set()).add(srv)
    return [f"timeline {tl} by {', '.join(sorted(s))}" for tl, s in sorted(servers.items()) if len(s) > 1]


def check(hn, final, master_ip, lsn_ok, lsn_detail):
    sync = hn.a.mode == "sync"
    events = [json.loads(line) for line in open(hn.events) if line.strip()]
    acks = [e for e in events if e["k"] == "ack"]
    ctrs = [e for e in events if e["k"] == "ctr"]
    tries = {e["id"] for e in events if e["k"] == "try"}
    errs = [e for e in events if e["k"] == "err"]
    reads = [e for e in events if e["k"] == "reads"]
    cds = [e for e in events if e["k"] == "cd"]
    ip_of_keeper = {h.name: h.ip for h in hn.hosts_of("keeper")}
    failures = []
    if getattr(hn, "not_converged", None):
        failures.append(f"not converged after healing: {hn.not_converged}")
    if final is None:
        # without a master nothing can be read back: every acknowledged write counts as not found
        failures.append(f"no master to read the final state from ({master_ip or 'none found'}): every "
                        "acknowledged write is counted as lost below")
        final = {"ids": [], "history": {}, "counter": None}

    # 1. acknowledged ids on the final master
    on_master = set(final["ids"])
    lost = [e for e in acks if e["id"] not in on_master]
    unacked_present = len((tries - {e["id"] for e in acks}) & on_master)
    hist = parse_history(final["history"])
    max_lag = (cds[-1]["cd"]["maxStandbyLag"] if cds else 1048576)
    unexplained = []
    for e in lost:
        sw = hist.get(e["tl"])
        if sw is None or lsn_int(e["lsn"]) < sw or lsn_int(e["lsn"]) - sw > max_lag:
            unexplained.append(e)
    if sync and lost:
        failures.append(f"{len(lost)} acknowledged writes lost (sync mode), e.g. {lost[:3]}")
    if not sync and unexplained:
        failures.append(f"{len(unexplained)} lost writes not explained by a failover within maxStandbyLag, "
                        f"e.g. {unexplained[:3]}")

    # counter: every acknowledged increment returned a distinct value (a duplicate = a lost update)
    vals = [e["v"] for e in ctrs]
    dups = len(vals) - len(set(vals))
    if sync and dups:
        failures.append(f"counter: {dups} acknowledged increments returned an already returned value")
    if sync and vals and (final["counter"] or 0) < max(vals):
        failures.append(f"counter: final {final['counter']} < acknowledged {max(vals)}")

    # 2. no two servers accepted writes in overlapping windows: for X first written before Y, no write on X was
    # sent after a write on Y was acknowledged.
    windows = {}
    for e in acks + ctrs:
        w = windows.setdefault((e["srv"], e["tl"]), [e["t1"], e["t0"], e["t1"], 0])
        w[0] = min(w[0], e["t1"])          # first ack
        w[1] = max(w[1], e["t0"])          # last send
        w[2] = max(w[2], e["t1"])          # last ack
        w[3] += 1
    order = sorted(windows.items(), key=lambda kv: kv[1][0])
    overlaps = []
    for i, (x, wx) in enumerate(order):
        for y, wy in order[i + 1:]:
            if wx[1] > wy[0]:
                overlaps.append(f"{x} wrote (sent {wx[1] - hn.t_start:.2f}s) after {y} acknowledged "
                                f"({wy[0] - hn.t_start:.2f}s)")
    if overlaps:
        failures.append("overlapping write windows: " + "; ".join(overlaps[:3]))
    reused = timeline_reuse(windows)
    if reused:
        failures.append("timelines written by more than one server (a primary that did not switch to a new "
                        "timeline: two histories under one timeline ID): " + "; ".join(reused[:3]))

    # 3. standbys converge
    if not lsn_ok:
        failures.append(f"standbys did not reach the master's LSN: {lsn_detail}")

    # 4. I1, I3, I5, I6 from the cluster data versions, the proxy reports and the keepers' logs
    pxs = [e for e in events if e["k"] == "px"]
    inv_counts, inv_bad = check_protocol(cds, pxs, keeper_logs(hn))
    if inv_bad:
        failures.append(f"{len(inv_bad)} invariant violations: " + "; ".join(inv_bad[:3]))

    # 5. I2: each acknowledged write's server was the proxies' RW target in a cluster data version current at
    # some time in [send - proxyTimeout, ack]
    def addr(c, uid):
        k = c["cd"]["keeper"].get(uid)
        return ip_of_keeper.get(k) or c["cd"]["addr"].get(uid)

    spans = []
    for i, c in enumerate(cds):
        t_next = cds[i + 1]["t"] if i + 1 < len(cds) else float("inf")
        pm = c["cd"]["proxyMaster"]
        spans.append((c["t"], t_next, addr(c, pm) if pm else None))
    misrouted = []
    for e in acks + ctrs:
        if e.get("d"):
            continue            # the direct writer bypasses the proxies: I2 is not about it
        lo, hi = e["t0"] - PROXY_TIMEOUT - 0.5, e["t1"]
        if not any(s0 < hi and s1 > lo and ip == e["srv"] for s0, s1, ip in spans):
            misrouted.append(e)
    if cds and misrouted:
        failures.append(f"I2: {len(misrouted)} writes acknowledged by a DB that was not the proxies' master, "
                        f"e.g. {misrouted[:2]}")
    if not cds:
        failures.append("the watcher recorded no cluster data")

    # failovers: master changes in the cluster data, timed by the writes around them
    ack_times = sorted(e["t1"] for e in acks + ctrs)
    failovers = failover_durations(cds, acks + ctrs, addr, hn.t_start)
    gaps = [b - a for a, b in zip(ack_times, ack_times[1:]) if b - a > 1.0]
    durs = [f["duration"] for f in failovers if f["duration"] is not None]
    kinds = {}
    for f in hn.faults:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    report = {
        "run": hn.rid, "seed": hn.a.seed, "mode": hn.a.mode, "duration_s": round(hn.a.duration),
        "topology": {k: len(hn.hosts_of(k)) for k in ("etcd", "keeper", "sentinel", "proxy")},
        "faults": kinds, "faults_total": len(hn.faults), "restarts": hn.restarts,
        "writes_acknowledged": len(acks), "counter_increments_acknowledged": len(ctrs),
        "writes_unknown_outcome_present": unacked_present, "client_errors": len(errs),
        "writes_lost": len(lost), "lost_unexplained": len(unexplained),
        "reads": {"ok": sum(r["ok"] for r in reads), "errors": sum(r["err"] for r in reads)},
        "cluster_data_versions": len(cds), "failovers": len(failovers),
        "failover_duration_s": ({"min": min(durs), "median": round(statistics.median(durs), 2), "max": max(durs)}
                                if durs else None),
        "failover_list": failovers,
        "time_without_writable_master_s": round(sum(gaps), 2),
        "longest_write_gap_s": round(max(gaps), 2) if gaps else 0,
        "convergence_after_heal_s": round(hn.converge_s, 1),
        "converged": getattr(hn, "not_converged", None) is None,
        "invariants_checked": {**inv_counts, "I2": sum(1 for e in acks + ctrs if not e.get("d"))},
        "direct_writes_acknowledged": sum(1 for e in acks if e.get("d")),
        "online_violations": hn.online_bad,
        "servers": {f"{k[0]}/tl{k[1]}": v[3] for k, v in order},
        "result": "FAIL" if failures else "PASS", "reasons": failures,
    }
    (hn.ws / "report.json").write_text(json.dumps(report, indent=1))
    return report


def print_report(r):
    print("\n==================== chaos report ====================")
    print(f"run {r['run']}  seed {r['seed']}  mode {r['mode']}  duration {r['duration_s']}s  topology {r['topology']}")
    print(f"faults injected: {r['faults_total']}  {r['faults']}  (restarts {r['restarts']})")
    print(f"writes acknowledged: {r['writes_acknowledged']} ids ({r.get('direct_writes_acknowledged', 0)} of them "
          f"directly to the keeper whose /primary said 200) + {r['counter_increments_acknowledged']} counter "
          f"increments; client errors {r['client_errors']}; reads ok {r['reads']['ok']} / errors "
          f"{r['reads']['errors']}")
    print(f"writes lost: {r['writes_lost']} (unexplained: {r['lost_unexplained']}); unacknowledged writes found "
          f"on the master: {r['writes_unknown_outcome_present']}")
    print(f"failovers: {r['failovers']}  durations (s): {r['failover_duration_s']}")
    for f in r["failover_list"]:
        print(f"   at {f['at']:>7}s  {f['from']} -> {f['to']}  "
              + (f"{f['duration']}s" if f["duration"] is not None
                 else "(not timed: the new master took no write before the next change)"))
    print(f"time without a writable master: {r['time_without_writable_master_s']}s "
          f"(longest gap {r['longest_write_gap_s']}s); convergence after heal "
          + (f"{r['convergence_after_heal_s']}s" if r.get("converged", True)
             else f"NONE within {r['convergence_after_heal_s']}s"))
    print(f"writes per server/timeline: {r['servers']}")
    ic = r["invariants_checked"]
    print(f"invariants checked: I1 on {ic['I1']} cluster data versions, I2 on {ic['I2']} acknowledged writes, "
          f"I3 on {ic['I3']} routings, I5 on {ic['I5']} promotions, I6 on {ic['I6']} keeper starts; "
          f"violations seen online: {len(r['online_violations'])}")
    print(f"RESULT: {r['result']}" + ("" if not r["reasons"] else ""))
    for reason in r["reasons"]:
        print(f"   - {reason}")


def main():
    p = argparse.ArgumentParser(description="bulwark chaos harness (see docs/chaos.md)")
    p.add_argument("--duration", type=parse_duration, default=parse_duration("10m"))
    p.add_argument("--seed", type=int, default=None)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sync", dest="mode", action="store_const", const="sync")
    g.add_argument("--async", dest="mode", action="store_const", const="async")
    p.add_argument("--sentinels", type=int, default=3)
    p.add_argument("--proxies", type=int, default=2)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--readers", type=int, default=2)
    p.add_argument("--overlap", type=float, default=0.3,
                   help="probability that a second fault starts while one holds (default 0.3)")
    p.add_argument("--include", type=lambda v: [x for x in v.split(",") if x], default=[],
                   help="faults that must happen (first, once each), e.g. store_down,master_cut_from_store")
    p.add_argument("--store-down-seconds", type=lambda v: tuple(float(x) for x in v.split("-")), default=(30, 90),
                   help="how long store_down holds, LOW-HIGH seconds (default 30-90)")
    p.add_argument("--keep-logs", default=None, help="copy the logs, events and report here at the end")
    p.add_argument("--json", default=None, help="also write the report as JSON to this file")
    a = p.parse_args()
    a.mode = a.mode or "sync"
    for name in a.include:
        if name not in FAULT_BY_NAME:
            p.error(f"--include: unknown fault {name!r} (one of {', '.join(FAULT_BY_NAME)})")
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    if os.geteuid() != 0:
        print("chaos: must run as root (network namespaces)", file=sys.stderr)
        return 2
    for b in ("bulwark-keeper", "bulwark-sentinel", "bulwark-proxy"):
        if not (BIN / b).exists():
            print(f"chaos: {BIN / b} missing: run make first", file=sys.stderr)
            return 2
    hn = Harness(a)

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")

    signal.signal(signal.SIGINT, on_signal)     # also when started in the background with SIGINT ignored
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    rc = 2
    try:
        log(f"chaos: seed {a.seed}, {a.mode}, {a.duration:.0f}s")
        r = hn.run()
        print_report(r)
        if a.json:
            Path(a.json).write_text(json.dumps(r, indent=1))
        rc = 0 if r["result"] == "PASS" else 1
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); tearing down")
        rc = 130
    except Exception as e:  # noqa: BLE001 - reported, then everything is torn down
        log(f"chaos: harness error: {type(e).__name__}: {e}")
        for h in hn.hosts:
            if h.kind != "client" and h.log_path.exists():
                tail = h.log_path.read_text(errors="replace").splitlines()[-8:]
                print(f"--- {h.name} ---\n" + "\n".join(tail))
        rc = 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        hn.teardown()
        log("torn down")
    return rc


if __name__ == "__main__":
    sys.exit(main())
