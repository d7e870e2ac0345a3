"""Real etcd 3.4 processes for the integration tests.

EtcdCluster starts 1 or 3 etcd members on free loopback ports (never 2379/2380), each in its own temporary data
directory, as lone processes whose PIDs we hold, and always stops and removes them: terminate, then SIGKILL after a
timeout. Members can be killed (SIGKILL), stopped and started again with the same data directory, which is how
the tests make etcd fail.

Also here: REPO and BUILD, where the build outputs are (binaries in build/bin, test tools in build/tools).
"""

import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# BULWARK_BUILD: another build's outputs (a benchmark comparing an older commit, say)
BUILD = Path(os.environ["BULWARK_BUILD"]) if os.environ.get("BULWARK_BUILD") else REPO / "build"
BIN = BUILD / "bin"
TOOLS = BUILD / "tools"

ETCD = shutil.which("etcd") or "/usr/bin/etcd"

# Ports are drawn below Linux's ephemeral range (32768+) so that outgoing connections do not take them between
# the bind test and etcd's own bind.
PORT_LOW = 20000
PORT_HIGH = 32000
RESERVED_PORTS = {2379, 2380}


def bin_path(name):
    """The path of a built program in build/bin, or a failure telling to run make."""
    return _built(BIN / name)


def tool_path(name):
    """The path of a built test tool in build/tools, or a failure telling to run make."""
    return _built(TOOLS / name)


def _built(path):
    if not path.exists():
        raise FileNotFoundError(f"{path} is not built: run make in {REPO}")
    return path


def _port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# Every port handed out in this test run. A port is picked before the daemon that binds it starts (a keeper's
# PostgreSQL binds seconds later, after initdb), so "free just now" is not enough: two daemons of one cluster could
# be handed the same port, and the second to start fails. That happened in CI: a keeper's PostgreSQL exited at
# once ("could not bind ... Address already in use"), and the keeper of the time wiped and re-ran initdb every 2 s
# until the test timed out. A port is never handed out twice in a run; the range holds 12,000, far more than a
# run uses (about 900), and free_ports says so if it ever runs out.
_handed_out = set()


def free_ports(count, taken=()):
    """count distinct ports that could be bound on 127.0.0.1 just now and were not handed out before in this run."""
    ports = []
    tries = 0
    while len(ports) < count:
        tries += 1
        if tries > 20000:
            raise RuntimeError(f"no free ports left in {PORT_LOW}-{PORT_HIGH} ({len(_handed_out)} handed out)")
        port = random.randrange(PORT_LOW, PORT_HIGH)
        if port in RESERVED_PORTS or port in ports or port in taken or port in _handed_out:
            continue
        if _port_is_free(port):
            ports.append(port)
    _handed_out.update(ports)
    return ports


def _healthy(client_url, timeout=1.0, tls=None):
    context = None
    if tls is not None:
        context = ssl.create_default_context(cafile=str(tls.ca))
        context.load_cert_chain(str(tls.cert), str(tls.key))
    try:
        with urllib.request.urlopen(client_url + "/health", timeout=timeout, context=context) as resp:
            body = json.loads(resp.read().decode())
            return body.get("health") == "true"
    except (OSError, ValueError, urllib.error.URLError):
        return False


class TlsFiles:
    """A throwaway CA with a server and a client certificate for 127.0.0.1, made with openssl in directory d."""

    def __init__(self, d):
        d = Path(d)
        self.ca, self.ca_key = d / "ca.crt", d / "ca.key"
        self.cert, self.key = d / "client.crt", d / "client.key"
        self.server_cert, self.server_key = d / "server.crt", d / "server.key"
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._openssl(["req", "-x509"] + ec + ["-keyout", self.ca_key, "-out", self.ca, "-days", "2",
                                             "-subj", "/CN=bulwark-test-ca"])
        for crt, key, name in ((self.server_cert, self.server_key, "server"), (self.cert, self.key, "client")):
            csr = d / f"{name}.csr"
            ext = d / f"{name}.ext"
            ext.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
            self._openssl(["req"] + ec + ["-keyout", key, "-out", csr, "-subj", f"/CN={name}"])
            self._openssl(["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
                           "-out", crt, "-days", "2", "-extfile", ext])

    @staticmethod
    def _openssl(args):
        subprocess.run(["openssl"] + [str(a) for a in args], check=True, capture_output=True, timeout=60)


class EtcdMember:
    """One etcd process; restartable with the same data directory."""

    def __init__(self, name, client_port, peer_port, data_dir, log_path, initial_cluster, token, extra_args,
                 tls=None):
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.tls = tls
        self.client_url = f"{'https' if tls else 'http'}://127.0.0.1:{client_port}"
        self.peer_url = f"http://127.0.0.1:{peer_port}"
        self.data_dir = data_dir
        self.log_path = log_path
        self.initial_cluster = initial_cluster
        self.token = token
        self.extra_args = list(extra_args)
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def argv(self):
        return [
            ETCD,
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", self.token,
            "--experimental-watch-progress-notify-interval", "1s",
        ] + self.tls_args() + self.extra_args

    def tls_args(self):
        if self.tls is None:
            return []
        return ["--cert-file", str(self.tls.server_cert), "--key-file", str(self.tls.server_key),
                "--trusted-ca-file", str(self.tls.ca), "--client-cert-auth"]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=True, timeout=20.0):
        """Start (or restart, with the same data dir) the process; wait until it answers /health."""
        if self.running():
            raise RuntimeError(f"etcd member {self.name} is already running (pid {self.pid})")
        with open(self.log_path, "ab") as log:
            # a lone process (no shell), so that self.proc.pid is etcd itself
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_healthy(timeout)

    def wait_healthy(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"etcd member {self.name} exited with {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            if _healthy(self.client_url, tls=self.tls):
                return
            time.sleep(0.1)
        raise TimeoutError(f"etcd member {self.name} not healthy after {timeout} s: {self.log_tail()}")

    def kill(self):
        """SIGKILL, as a crash or a power cut would."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL when it has not exited after timeout (a member without quorum is slow to stop)."""
        if not self.running():
            if self.proc is not None:
                self.proc.wait()
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"


class EtcdCluster:
    """1 or 3 members on loopback; .endpoints is the comma-separated client URLs."""

    def __init__(self, size, extra_args=(), tls=False):
        self.size = size
        self.root = Path(tempfile.mkdtemp(prefix="bulwark-etcd-"))
        self.tls = TlsFiles(self.root) if tls else None
        ports = free_ports(2 * size)
        names = [f"m{i + 1}" for i in range(size)]
        initial = ",".join(f"{n}=http://127.0.0.1:{ports[2 * i + 1]}" for i, n in enumerate(names))
        token = f"bulwark-test-{os.getpid()}-{ports[0]}"
        self.members = [
            EtcdMember(n, ports[2 * i], ports[2 * i + 1], self.root / n, self.root / f"{n}.log", initial, token,
                       extra_args, self.tls)
            for i, n in enumerate(names)
        ]

    @property
    def endpoints(self):
        return ",".join(m.client_url for m in self.members)

    def start(self, timeout=30.0):
        for m in self.members:
            m.start(wait=False)
        for m in self.members:
            m.wait_healthy(timeout)

    def stop_all(self):
        for m in self.members:
            try:
                m.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others whatever happens
                m.kill()

    def cleanup(self):
        try:
            self.stop_all()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def logs(self):
        return "\n".join(f"--- {m.name} ({m.client_url}) ---\n{m.log_tail(30)}" for m in self.members)


def start_cluster(size, attempts=3, extra_args=(), tls=False):
    """A started cluster of size members (1 or 3); the caller must call cleanup(). Retries on a port race.
    tls: client URLs are https, with a fresh CA (cluster.tls.ca) and client certificate required."""
    extra = ["--heartbeat-interval", "100", "--election-timeout", "1000"] if size > 1 else []
    extra += list(extra_args)
    last = None
    for _ in range(attempts):
        cluster = EtcdCluster(size, extra, tls)
        try:
            cluster.start()
            return cluster
        except (RuntimeError, TimeoutError) as e:
            last = e
            cluster.cleanup()
    raise RuntimeError(f"could not start a {size}-member etcd: {last}")
