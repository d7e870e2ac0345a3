#!/usr/bin/python3
"""A single-node Kubernetes on this machine, for the live run of the Helm chart (scripts/k8s-e2e).

    scripts/k8s-up      build what is missing (cached), start the cluster, print the kubeconfig's path
    scripts/k8s-down    stop it and remove everything it made (processes, mounts, routes, rules, netns, veths)
    tests/k8s/cluster.py build-only | images | status

What runs, every process started by this script and held by its PID (pid files in /run/bulwark-k8s/pids, and
the cgroup /sys/fs/cgroup/pids/bulwark-k8s so that their children are found too):
  etcd            the control plane's store, built from Go modules (tests/k8s/etcd, etcd >= 3.5)
  kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables mode)
                  Kubernetes KUBE_VERSION, built from Go modules as one multi-call binary (tests/k8s/kube)
  containerd      Debian's, with runc and the CNI plugins (bridge, host-local); CRI restrict_oom_score_adj
                  (this machine lacks CAP_SYS_RESOURCE), cgroupfs (cgroup v1, no systemd)
  provisioner     tests/k8s/provisioner.py: the default StorageClass "local-dir" gives each PVC a directory
and in the cluster CoreDNS (built from Go modules, tests/k8s/coredns), for Service names. Every image (the
pod sandbox "pause", CoreDNS, etcd for the chart, bulwark) is built here and imported into containerd.

Network (a rule of this machine): before anything starts, the pod range and the Service range are routed
locally. The node's bridge bwk0 holds 10.244.0.1/24 (the pods); the rest of 10.244.0.0/16 is a blackhole;
10.96.0.0/16 (Services) goes to the bridge, so a Service address without kube-proxy's DNAT rule stays on the
bridge and a packet to a private address never leaves through the uplink. Pods get no default route (only
their subnet and the Service range), no masquerading, and FORWARD drops anything between bwk0 and another
interface. CoreDNS has no upstream: only the cluster's names resolve.

Everything is cached outside the repository, keyed by version, under $BULWARK_K8S_CACHE (default
/var/cache/bulwark-k8s); the cluster's state is /var/lib/bulwark-k8s (wiped on every k8s-up).
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import oci  # noqa: E402

KUBE_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.16"      # tests/k8s/etcd/go.mod
COREDNS_VERSION = "v1.12.4"   # tests/k8s/coredns/go.mod
PAUSE_TAG = "3.10-bulwark"

CACHE = Path(os.environ.get("BULWARK_K8S_CACHE", "/var/cache/bulwark-k8s"))
STATE = Path("/var/lib/bulwark-k8s")
RUN = Path("/run/bulwark-k8s")
PIDS = RUN / "pids"
LOGS = STATE / "logs"
CERTS = STATE / "pki"
CGROUP = "bulwark-k8s"
KUBECONFIG = STATE / "admin.kubeconfig"

NODE = "bulwark-node"
BRIDGE = "bwk0"
POD_RANGE = "10.244.0.0/16"          # routed: the node's subnet on the bridge, the rest blackholed
NODE_SUBNET = "10.244.0.0/24"
NODE_IP = "10.244.0.1"               # the bridge's address: apiserver, kubelet and node IP
SERVICE_RANGE = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
DNS_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"

# ports of our own (none of the defaults, which other things on a shared machine may hold)
PORTS = {"etcd": 22379, "etcd-peer": 22380, "apiserver": 16443, "kubelet": 20250, "kubelet-healthz": 20248,
         "controller-manager": 20257, "scheduler": 20259, "proxy-healthz": 20256, "proxy-metrics": 20249}

IMAGES = {
    "pause": f"bulwark.local/pause:{PAUSE_TAG}",
    "coredns": f"bulwark.local/coredns:{COREDNS_VERSION}",
    "etcd": f"bulwark.local/etcd:{ETCD_VERSION}",
}
BULWARK_IMAGE_REPO = "bulwark.local/bulwark"

# kubelet changes these unless told otherwise; k8s-down puts back what was there
SYSCTLS = ["net.ipv4.ip_forward", "kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory",
           "vm.panic_on_oom", "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
           "net.ipv4.conf.all.route_localnet"]
RULE_COMMENT = "bulwark-k8s"


def log(msg):
    print(f"[k8s {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(*argv, check=True, timeout=120, capture=True, env=None, cwd=None, input=None):
    r = subprocess.run([str(a) for a in argv], capture_output=capture, text=True, timeout=timeout, env=env,
                       cwd=cwd, input=input)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(str(a) for a in argv)}: exit {r.returncode}: "
                           f"{(r.stderr or '').strip()[-2000:]}")
    return r


def kube_bin():
    return CACHE / KUBE_VERSION / "bin"


def kubectl(*args, check=True, timeout=60, input=None):
    return run(kube_bin() / "kubectl", "--kubeconfig", KUBECONFIG, *args, check=check, timeout=timeout,
               input=input)


# --------------------------------------------------------------------------------------------------- builds

def go_env():
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-buildvcs=false")
    return env


def timed_build(what, out, argv, cwd, env):
    """Run a build command into out (atomically); record its wall time next to it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {what} (cached afterwards in {out.parent}) ...")
    t0 = time.monotonic()
    with open(out.parent / "build.log", "w") as lf:
        r = subprocess.run(["nice", "-n", "10", *argv], cwd=cwd, env=env, stdout=lf, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError(f"building {what} failed (exit {r.returncode}); see {out.parent / 'build.log'}")
    secs = time.monotonic() - t0
    (out.parent / "build-seconds").write_text(f"{secs:.0f}\n")
    log(f"built {what} in {secs:.0f} s")


def build_kube():
    """The multi-call binary of Kubernetes KUBE_VERSION (tests/k8s/kube), and its per-component symlinks."""
    d = CACHE / KUBE_VERSION
    out = d / "kube"
    if not out.exists():
        major, minor = KUBE_VERSION.lstrip("v").split(".")[:2]
        x = []
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            x += [f"-X {pkg}.gitVersion={KUBE_VERSION}", f"-X {pkg}.gitMajor={major}",
                  f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
        tmp = d / "kube.building"
        timed_build(f"Kubernetes {KUBE_VERSION}", out,
                    ["go", "build", "-trimpath", "-ldflags", "-s -w " + " ".join(x), "-o", str(tmp), "."],
                    HERE / "kube", go_env())
        tmp.rename(out)
    b = d / "bin"
    b.mkdir(exist_ok=True)
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"):
        link = b / name
        if not link.is_symlink():
            link.symlink_to("../kube")
    return out


def build_static_go(name, version, moddir):
    d = CACHE / f"{name}-{version}"
    out = d / name
    if not out.exists():
        tmp = d / f"{name}.building"
        env = dict(go_env(), CGO_ENABLED="0")
        timed_build(f"{name} {version}", out, ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp), "."],
                    moddir, env)
        tmp.rename(out)
    return out


def build_pause():
    d = CACHE / f"pause-{PAUSE_TAG}"
    out = d / "pause"
    src = HERE / "pause" / "pause.c"
    stamp = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    if not out.exists() or (d / "source").read_text() != stamp:
        d.mkdir(parents=True, exist_ok=True)
        run("gcc", "-static", "-Os", "-Wall", "-Wextra", "-Werror", "-o", d / "pause.building", src)
        (d / "pause.building").rename(out)
        (d / "source").write_text(stamp)
    return out


def build_small_images():
    """OCI archives of the pause, CoreDNS and etcd images: one static binary each (tests/k8s/oci.py)."""
    out = {}
    d = CACHE / "images"
    d.mkdir(parents=True, exist_ok=True)
    pause = build_pause()
    etcd = build_static_go("etcd", ETCD_VERSION, HERE / "etcd")
    coredns = build_static_go("coredns", COREDNS_VERSION, HERE / "coredns")
    specs = {
        "pause": dict(files={"/pause": (pause, 0o755)}, entrypoint=["/pause"], user="65535"),
        # the chart runs `etcd` by name (command: [etcd]) as an arbitrary uid, with /tmp for nothing
        "etcd": dict(files={"/usr/local/bin/etcd": (etcd, 0o755)}, dirs={"/tmp": 0o1777, "/var/lib/etcd": 0o755},
                     entrypoint=None, cmd=["etcd"]),
        "coredns": dict(files={"/coredns": (coredns, 0o755)}, entrypoint=["/coredns"], user="65532"),
    }
    for key, spec in specs.items():
        name = IMAGES[key]
        src = spec["files"]
        stamp = hashlib.sha256(repr(sorted((k, hashlib.sha256(Path(v[0]).read_bytes()).hexdigest())
                                           for k, v in src.items())).encode()).hexdigest()[:16]
        archive = d / f"{key}-{stamp}.tar"
        if not archive.exists():
            oci.write_archive(archive, name, src, dirs=spec.get("dirs"), entrypoint=spec.get("entrypoint"),
                              cmd=spec.get("cmd"), user=spec.get("user", ""))
        out[key] = (name, archive)
    return out


def buildah(*args, timeout=3600, check=True):
    root = CACHE / "buildah"
    return run("nice", "-n", "10", "buildah", "--root", root / "storage", "--runroot", RUN / "buildah",
               "--storage-driver", "overlay", *args, timeout=timeout, check=check)


def debian_base():
    """docker.io/library/debian:12 in our buildah storage, from a debootstrap'd Debian 12 (minbase)."""
    if buildah("images", "-q", "docker.io/library/debian:12", check=False).returncode == 0:
        return
    d = CACHE / "debian-12"
    rootfs = d / "rootfs"
    if not rootfs.exists():
        log("debootstrap of Debian 12 (bookworm, minbase) for the images' base ...")
        t0 = time.monotonic()
        shutil.rmtree(d / "rootfs.tmp", ignore_errors=True)
        d.mkdir(parents=True, exist_ok=True)
        run("nice", "-n", "10", "debootstrap", "--variant=minbase", "bookworm", d / "rootfs.tmp",
            "http://deb.debian.org/debian", timeout=3600)
        (d / "rootfs.tmp").rename(rootfs)
        (d / "build-seconds").write_text(f"{time.monotonic() - t0:.0f}\n")
    log("importing the Debian 12 rootfs into buildah as docker.io/library/debian:12")
    ctr = buildah("from", "scratch").stdout.strip()
    try:
        mnt = buildah("mount", ctr).stdout.strip()
        try:
            run("sh", "-c", f"tar -C {rootfs} --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* -cf - . "
                            f"| tar -C {mnt} -xpf -", timeout=600)
        finally:
            buildah("umount", ctr)
        buildah("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--cmd", "/bin/bash", ctr)
        buildah("commit", "--rm", ctr, "docker.io/library/debian:12")
    except Exception:
        buildah("rm", ctr, check=False)
        raise


def bulwark_source_hash():
    """A hash of everything the Containerfile reads: the image tag, so a changed source gives a new image."""
    h = hashlib.sha256()
    files = [REPO / "deploy/container/Containerfile", REPO / "Makefile", REPO / "VERSION"]
    files += sorted(p for p in (REPO / "src").rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def build_bulwark_image():
    """The bulwark image from deploy/container/Containerfile (buildah), as an OCI archive; (name, archive)."""
    tag = f"{(REPO / 'VERSION').read_text().strip()}-{bulwark_source_hash()}"
    name = f"{BULWARK_IMAGE_REPO}:{tag}"
    d = CACHE / "images"
    d.mkdir(parents=True, exist_ok=True)
    archive = d / f"bulwark-{tag}.tar"
    if archive.exists():
        return name, archive
    (RUN / "buildah").mkdir(parents=True, exist_ok=True)
    debian_base()
    log(f"building the bulwark image {name} from deploy/container/Containerfile (buildah) ...")
    t0 = time.monotonic()
    # a context with only what the Containerfile copies (the repository may hold large build outputs)
    ctx = Path(tempfile.mkdtemp(prefix="bulwark-image-ctx-"))
    try:
        for rel in ("Makefile", "VERSION"):
            shutil.copy2(REPO / rel, ctx / rel)
        shutil.copytree(REPO / "src", ctx / "src")
        with open(d / f"bulwark-{tag}.build.log", "w") as lf:
            r = subprocess.run(["nice", "-n", "10", "buildah", "--root", str(CACHE / "buildah" / "storage"),
                                "--runroot", str(RUN / "buildah"), "--storage-driver", "overlay", "bud",
                                "--pull=never", "--network=host", "--isolation=chroot", "--layers=false",
                                "-f", str(REPO / "deploy/container/Containerfile"), "-t", name, str(ctx)],
                               stdout=lf, stderr=subprocess.STDOUT, timeout=3600)
        if r.returncode != 0:
            raise RuntimeError(f"buildah bud failed (exit {r.returncode}); see {d / f'bulwark-{tag}.build.log'}")
    finally:
        shutil.rmtree(ctx)
    tmp = d / f"bulwark-{tag}.tar.tmp"
    tmp.unlink(missing_ok=True)
    buildah("push", name, f"oci-archive:{tmp}:{name}")
    tmp.rename(archive)
    (d / f"bulwark-{tag}.build-seconds").write_text(f"{time.monotonic() - t0:.0f}\n")
    log(f"built {name} in {time.monotonic() - t0:.0f} s")
    # keep the buildah storage small: the base image stays, the built image lives on as the archive
    buildah("rmi", "--prune", check=False)
    buildah("rmi", name, check=False)
    return name, archive


# Debian packages the cluster needs (the Go toolchain is the machine's: Debian 12's golang is too old)
DEBIAN_PACKAGES = ["containerd", "runc", "containernetworking-plugins", "debootstrap", "buildah", "iptables",
                   "conntrack", "iproute2", "openssl", "curl", "gcc", "libc6-dev", "python3-psycopg"]


def ensure_packages():
    missing = [p for p in DEBIAN_PACKAGES
               if "install ok installed" not in run("dpkg-query", "-W", "-f=${Status}", p, check=False).stdout]
    if missing:
        log(f"installing Debian packages: {' '.join(missing)}")
        # package scripts must not start services (containerd): this script starts its own
        if not os.path.exists("/usr/sbin/policy-rc.d"):
            Path("/usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
            os.chmod("/usr/sbin/policy-rc.d", 0o755)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run("apt-get", "update", "-qq", env=env, timeout=600)
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=env, timeout=1800)
    r = run("go", "env", "GOVERSION", check=False)
    m = re.match(r"go1\.(\d+)", r.stdout.strip()) if r.returncode == 0 else None
    if not m or int(m.group(1)) < 24:
        raise RuntimeError(f"Go 1.24 or later is needed to build Kubernetes {KUBE_VERSION} (found: "
                           f"{r.stdout.strip() or 'no go on PATH'})")


def build_all():
    ensure_packages()
    t0 = time.monotonic()
    build_kube()
    imgs = build_small_images()
    imgs["bulwark"] = build_bulwark_image()
    log(f"everything built or found in the cache ({CACHE}) in {time.monotonic() - t0:.0f} s")
    return imgs


# ---------------------------------------------------------------------------------------------- processes

def cgroup_dir(ctrl="pids"):
    return Path("/sys/fs/cgroup") / ctrl / CGROUP


def join_cgroup():
    """In the child before exec: enter our cgroup (so its children are found on teardown); niceness 10 (not
    more, even when k8s-up itself runs niced: the cluster's daemons and pods must keep up with their probes)."""
    with open(cgroup_dir() / "cgroup.procs", "w") as f:
        f.write(str(os.getpid()))
    os.setpriority(os.PRIO_PROCESS, 0, 10)


def proc_start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def start_daemon(name, argv, env=None):
    PIDS.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    lf = open(LOGS / f"{name}.log", "ab")
    p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                         start_new_session=True, preexec_fn=join_cgroup, env=env or dict(os.environ))
    lf.close()
    (PIDS / name).write_text(f"{p.pid} {proc_start_time(p.pid)}\n")
    log(f"started {name} (pid {p.pid}), log {LOGS / f'{name}.log'}")
    return p


def daemon_pid(name):
    """The PID of our daemon `name` if it still runs (the PID and its start time as recorded)."""
    try:
        pid, start = (PIDS / name).read_text().split()
    except (OSError, ValueError):
        return None
    return int(pid) if proc_start_time(int(pid)) == start else None


def stop_daemon(name, timeout=20):
    pid = daemon_pid(name)
    if pid is None:
        (PIDS / name).unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc_start_time(pid) is not None:
        time.sleep(0.2)
    if proc_start_time(pid) is not None:
        log(f"{name} (pid {pid}) did not stop in {timeout} s: SIGKILL")
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if proc_start_time(pid) is None:
                break
            time.sleep(0.1)
    (PIDS / name).unlink(missing_ok=True)
    log(f"stopped {name} (pid {pid})")


def wait_for(what, fn, timeout, interval=1.0, daemon=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if daemon and daemon_pid(daemon) is None:
            raise RuntimeError(f"{daemon} exited while waiting for {what}; see {LOGS / (daemon + '.log')}:\n"
                               + tail(LOGS / f"{daemon}.log"))
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}" + (f": {last}" if last else "")
                       + (f"\n{tail(LOGS / (daemon + '.log'))}" if daemon else ""))


def tail(path, n=25):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


# ------------------------------------------------------------------------------------------------ network

def route_checks():
    """(address, expected route kind, `ip route get` output) for a Service address and unused pod addresses."""
    out = []
    for addr, want in ((API_SERVICE_IP, f"dev {BRIDGE}"), ("10.96.255.254", f"dev {BRIDGE}"),
                       ("10.244.0.250", f"dev {BRIDGE}"), ("10.244.77.7", "blackhole")):
        r = run("ip", "route", "get", addr, check=False)
        text = (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else ""
        out.append((addr, want, text))
    return out


def setup_network():
    """The bridge, the routes and the FORWARD guards: before any pod, Service address or DNAT rule exists."""
    if run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        raise RuntimeError(f"{BRIDGE} exists already: run scripts/k8s-down first")
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "addr", "add", f"{NODE_IP}/{NODE_SUBNET.split('/')[1]}", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    run("ip", "route", "add", "blackhole", POD_RANGE)
    run("ip", "route", "add", SERVICE_RANGE, "dev", BRIDGE, "src", NODE_IP)
    for rule in forward_rules():
        run("iptables", "-I", *rule)
    # a blackhole route makes `ip route get` fail with EINVAL ("Invalid argument")
    bad = [(a, w, t) for a, w, t in route_checks()
           if w not in t and not (w == "blackhole" and "Invalid argument" in t)]
    for a, w, t in route_checks():
        log(f"ip route get {a}: {t}")
    if bad:
        raise RuntimeError(f"routes are not local: {bad}")


def forward_rules():
    # nothing between the pods' bridge and any other interface (the uplink): the pods reach each other, the
    # node (INPUT) and Services (DNAT to pods on the bridge) only
    return [["FORWARD", "-i", BRIDGE, "!", "-o", BRIDGE, "-m", "comment", "--comment", RULE_COMMENT, "-j", "DROP"],
            ["FORWARD", "!", "-i", BRIDGE, "-o", BRIDGE, "-m", "comment", "--comment", RULE_COMMENT, "-j", "DROP"]]


def write_cni_config():
    d = STATE / "cni"
    (d / "net.d").mkdir(parents=True, exist_ok=True)
    conf = {
        "cniVersion": "0.4.0", "name": "bulwark-k8s",
        "plugins": [{
            "type": "bridge", "bridge": BRIDGE, "isGateway": True, "isDefaultGateway": False, "ipMasq": False,
            "hairpinMode": True,
            "ipam": {"type": "host-local", "dataDir": str(d / "ipam"),
                     "ranges": [[{"subnet": NODE_SUBNET, "gateway": NODE_IP}]],
                     # no default route in the pods: their subnet (connected) and the Services only
                     "routes": [{"dst": SERVICE_RANGE}]},
        }],
    }
    (d / "net.d" / "10-bulwark.conflist").write_text(json.dumps(conf, indent=1))


# ------------------------------------------------------------------------------------------------- certs

def openssl(*args):
    run("openssl", *args)


def make_ca():
    CERTS.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
            "-subj", "/CN=bulwark-k8s-ca", "-keyout", CERTS / "ca.key", "-out", CERTS / "ca.crt",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("genrsa", "-out", CERTS / "sa.key", "2048")
    openssl("rsa", "-in", CERTS / "sa.key", "-pubout", "-out", CERTS / "sa.pub")


def make_cert(name, cn, org=None, ips=(), dns=(), server=False, client=False):
    subj = f"/CN={cn}" + (f"/O={org}" if org else "")
    key, csr, crt = CERTS / f"{name}.key", CERTS / f"{name}.csr", CERTS / f"{name}.crt"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", subj, "-keyout", key, "-out", csr)
    usage = ",".join(u for u, on in (("serverAuth", server), ("clientAuth", client)) if on)
    ext = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
           f"extendedKeyUsage={usage}"]
    sans = [f"IP:{i}" for i in ips] + [f"DNS:{d}" for d in dns]
    if sans:
        ext.append("subjectAltName=" + ",".join(sans))
    extfile = CERTS / f"{name}.ext"
    extfile.write_text("\n".join(ext) + "\n")
    openssl("x509", "-req", "-in", csr, "-CA", CERTS / "ca.crt", "-CAkey", CERTS / "ca.key", "-CAcreateserial",
            "-days", "30", "-extfile", extfile, "-out", crt)
    csr.unlink()
    extfile.unlink()
    return crt, key


def write_kubeconfig(path, user, crt, key):
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: bulwark-k8s
  cluster:
    certificate-authority: {CERTS / 'ca.crt'}
    server: https://{NODE_IP}:{PORTS['apiserver']}
users:
- name: {user}
  user:
    client-certificate: {crt}
    client-key: {key}
contexts:
- name: bulwark-k8s
  context: {{cluster: bulwark-k8s, user: {user}}}
current-context: bulwark-k8s
""")
    path.chmod(0o600)


def make_pki():
    make_ca()
    make_cert("apiserver", "kube-apiserver", ips=(NODE_IP, API_SERVICE_IP, "127.0.0.1"),
              dns=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   f"kubernetes.default.svc.{CLUSTER_DOMAIN}", "localhost"), server=True)
    make_cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client", org="system:masters", client=True)
    make_cert("kubelet", NODE, ips=(NODE_IP,), dns=(NODE,), server=True)
    users = {"admin": ("kubernetes-admin", "system:masters"),
             "kubelet-client": (f"system:node:{NODE}", "system:nodes"),
             "controller-manager": ("system:kube-controller-manager", None),
             "scheduler": ("system:kube-scheduler", None),
             "kube-proxy": ("system:kube-proxy", None),
             "provisioner": ("bulwark:local-dir-provisioner", None)}
    for name, (cn, org) in users.items():
        crt, key = make_cert(name, cn, org=org, client=True)
        write_kubeconfig(STATE / f"{name}.kubeconfig", cn, crt, key)


# ------------------------------------------------------------------------------------------------ configs

def write_containerd_config():
    d = STATE / "containerd"
    d.mkdir(parents=True, exist_ok=True)
    (RUN / "containerd").mkdir(parents=True, exist_ok=True)
    (d / "config.toml").write_text(f"""version = 2
root = "{STATE / 'containerd' / 'root'}"
state = "{RUN / 'containerd' / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{RUN / 'containerd' / 'containerd.sock'}"

[ttrpc]
  address = "{RUN / 'containerd' / 'containerd.sock.ttrpc'}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{STATE / 'containerd' / 'opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{IMAGES['pause']}"
  # this machine lacks CAP_SYS_RESOURCE: without this runc cannot start any sandbox
  # ("can't get final child's PID from pipe: EOF")
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{STATE / 'cni' / 'net.d'}"
    max_conf_num = 1
""")
    return d / "config.toml"


def write_kubelet_config():
    resolv = STATE / "kubelet-resolv.conf"
    # the pods' resolv.conf gets the cluster DNS only: nothing of the host's resolver (no query leaves)
    resolv.write_text("")
    cfg = STATE / "kubelet.yaml"
    cfg.write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: {PORTS['kubelet']}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {PORTS['kubelet-healthz']}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {CERTS / 'ca.crt'}}}
authorization:
  mode: Webhook
tlsCertFile: {CERTS / 'kubelet.crt'}
tlsPrivateKeyFile: {CERTS / 'kubelet.key'}
containerRuntimeEndpoint: unix://{RUN / 'containerd' / 'containerd.sock'}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [{DNS_IP}]
clusterDomain: {CLUSTER_DOMAIN}
resolvConf: {resolv}
podLogsDir: {STATE / 'pod-logs'}
serializeImagePulls: false
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard:
  memory.available: 200Mi
  nodefs.available: 2%
  imagefs.available: 2%
  nodefs.inodesFree: 2%
maxPods: 60
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
""")
    return cfg


def write_kube_proxy_config():
    cfg = STATE / "kube-proxy.yaml"
    cfg.write_text(f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: {STATE / 'kube-proxy.kubeconfig'}
hostnameOverride: {NODE}
clusterCIDR: {POD_RANGE}
bindAddress: {NODE_IP}
healthzBindAddress: 127.0.0.1:{PORTS['proxy-healthz']}
metricsBindAddress: 127.0.0.1:{PORTS['proxy-metrics']}
nodePortAddresses: [{NODE_IP}/32]
iptables:
  localhostNodePorts: false
  minSyncPeriod: 1s
  syncPeriod: 30s
conntrack:
  # leave the machine's conntrack sysctls alone
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
""")
    return cfg


# ---------------------------------------------------------------------------------------------- manifests

def addons_manifest(images):
    return f"""
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-dir
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: bulwark.local/local-dir
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: bulwark:local-dir-provisioner
rules:
  - apiGroups: [""]
    resources: [persistentvolumeclaims]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [persistentvolumes]
    verbs: [get, list, watch, create, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: bulwark:local-dir-provisioner
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bulwark:local-dir-provisioner}}
subjects:
  - {{apiGroup: rbac.authorization.k8s.io, kind: User, name: bulwark:local-dir-provisioner}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns}}
subjects:
  - {{kind: ServiceAccount, name: coredns, namespace: kube-system}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  # no forward plugin: only the cluster's own names resolve, no query leaves the machine.
  # Short TTLs: a recreated StatefulSet pod (an etcd member) comes back with a new address.
  Corefile: |
    .:1053 {{
        errors
        health :8080
        ready :8181
        kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 5
        }}
        cache 5
        loadbalance
    }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {{k8s-app: kube-dns}}
spec:
  replicas: 1
  selector:
    matchLabels: {{k8s-app: kube-dns}}
  template:
    metadata:
      labels: {{k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: {{type: RuntimeDefault}}
      containers:
        - name: coredns
          image: {images['coredns'][0]}
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - {{name: dns, containerPort: 1053, protocol: UDP}}
            - {{name: dns-tcp, containerPort: 1053, protocol: TCP}}
          readinessProbe:
            httpGet: {{path: /ready, port: 8181}}
            periodSeconds: 2
          livenessProbe:
            httpGet: {{path: /health, port: 8080}}
            periodSeconds: 10
            failureThreshold: 6
          resources:
            requests: {{cpu: 50m, memory: 32Mi}}
            limits: {{memory: 128Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {{drop: [ALL]}}
          volumeMounts:
            - {{name: config, mountPath: /etc/coredns, readOnly: true}}
      volumes:
        - name: config
          configMap: {{name: coredns}}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {{k8s-app: kube-dns}}
spec:
  clusterIP: {DNS_IP}
  selector: {{k8s-app: kube-dns}}
  ports:
    - {{name: dns, port: 53, targetPort: 1053, protocol: UDP}}
    - {{name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}}
"""


# ------------------------------------------------------------------------------------------------- up/down

def ctr(*args, timeout=600):
    return run("ctr", "--address", RUN / "containerd" / "containerd.sock", "-n", "k8s.io", *args, timeout=timeout)


def import_images(images):
    have = ctr("images", "ls", "-q").stdout.split()
    for key, (name, archive) in images.items():
        if name in have:
            continue
        t0 = time.monotonic()
        ctr("images", "import", archive)
        if name not in ctr("images", "ls", "-q").stdout.split():
            raise RuntimeError(f"ctr images import {archive} did not give the image {name}")
        log(f"imported {name} ({archive.stat().st_size >> 20} MiB) in {time.monotonic() - t0:.1f} s")


def dns_query(name, server=DNS_IP, qtype=1):
    """The A records of name from server (one UDP query), as a list of addresses."""
    qid = os.getpid() & 0xFFFF
    q = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(q, (server, 53))
        resp = s.recv(4096)
    an = int.from_bytes(resp[6:8], "big")
    pos = len(q)
    out = []
    for _ in range(an):
        if resp[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while resp[pos]:
                pos += resp[pos] + 1
            pos += 1
        rtype = int.from_bytes(resp[pos:pos + 2], "big")
        rdlen = int.from_bytes(resp[pos + 8:pos + 10], "big")
        if rtype == 1:
            out.append(socket.inet_ntoa(resp[pos + 10:pos + 14]))
        pos += 10 + rdlen
    return out


def save_host_state():
    """What k8s-down must put back or must not remove: sysctls, netns, log dirs, cgroups, the rules."""
    st = {"sysctl": {k: run("sysctl", "-n", k).stdout.strip() for k in SYSCTLS},
          "netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [],
          "varlog": [p for p in ("/var/log/containers", "/var/log/pods") if os.path.exists(p)],
          "kubepods": [str(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods")],
          "iptables": iptables_chains()}
    (RUN / "host-state.json").write_text(json.dumps(st, indent=1))
    if st["kubepods"]:
        raise RuntimeError(f"kubepods cgroups exist already ({st['kubepods']}): another kubelet runs here?")


def iptables_chains():
    out = {}
    for tool in ("iptables", "ip6tables"):
        r = run(f"{tool}-save", check=False)
        out[tool] = sorted({line.split()[0][1:] for line in r.stdout.splitlines() if line.startswith(":")})
    return out


def up(args):
    t_all = time.monotonic()
    if os.geteuid() != 0:
        sys.exit("k8s-up: run as root")
    if any(daemon_pid(n) for n in (os.listdir(PIDS) if PIDS.exists() else [])):
        sys.exit("k8s-up: the cluster runs already (scripts/k8s-down stops it)")
    if not Path("/sys/fs/cgroup/memory").is_dir():
        sys.exit("k8s-up: needs the cgroup v1 memory controller at /sys/fs/cgroup/memory")
    busy = [f"{n}={p}" for n, p in PORTS.items() if not port_free(p)]
    if busy:
        sys.exit(f"k8s-up: ports in use: {', '.join(busy)}")

    images = build_all()
    t_start = time.monotonic()

    # fresh state; the host's state saved first so that k8s-down can restore it even if this fails
    shutil.rmtree(STATE, ignore_errors=True)
    for d in (STATE, RUN, PIDS, LOGS):
        d.mkdir(parents=True, exist_ok=True)
    for ctrl in ("pids",):
        cgroup_dir(ctrl).mkdir(exist_ok=True)
    save_host_state()
    try:
        setup_network()
        make_pki()
        kb = kube_bin()

        etcd_bin = CACHE / f"etcd-{ETCD_VERSION}" / "etcd"
        e, ep = PORTS["etcd"], PORTS["etcd-peer"]
        start_daemon("etcd", [etcd_bin, "--name", "bulwark-k8s", "--data-dir", STATE / "etcd",
                              "--listen-client-urls", f"http://127.0.0.1:{e}", "--advertise-client-urls",
                              f"http://127.0.0.1:{e}", "--listen-peer-urls", f"http://127.0.0.1:{ep}",
                              "--initial-advertise-peer-urls", f"http://127.0.0.1:{ep}", "--initial-cluster",
                              f"bulwark-k8s=http://127.0.0.1:{ep}", "--log-level", "warn"])
        wait_for("etcd", lambda: run("curl", "-sf", f"http://127.0.0.1:{e}/health", check=False).returncode == 0,
                 60, 0.5, daemon="etcd")

        start_daemon("kube-apiserver", [
            kb / "kube-apiserver", f"--etcd-servers=http://127.0.0.1:{e}",
            f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}", f"--secure-port={PORTS['apiserver']}",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            f"--client-ca-file={CERTS / 'ca.crt'}", f"--tls-cert-file={CERTS / 'apiserver.crt'}",
            f"--tls-private-key-file={CERTS / 'apiserver.key'}",
            f"--kubelet-client-certificate={CERTS / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={CERTS / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={CERTS / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
            f"--service-account-key-file={CERTS / 'sa.pub'}",
            f"--service-account-signing-key-file={CERTS / 'sa.key'}",
            "--authorization-mode=Node,RBAC", "--allow-privileged=true", "--profiling=false",
            "--enable-admission-plugins=NodeRestriction", "--endpoint-reconciler-type=lease",
            "--v=1"])
        wait_for("the API server", lambda: kubectl("get", "--raw", "/readyz", check=False).stdout.strip() == "ok",
                 180, 1, daemon="kube-apiserver")

        start_daemon("kube-controller-manager", [
            kb / "kube-controller-manager", f"--kubeconfig={STATE / 'controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={STATE / 'controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={STATE / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={PORTS['controller-manager']}", "--leader-elect=false",
            f"--service-account-private-key-file={CERTS / 'sa.key'}", f"--root-ca-file={CERTS / 'ca.crt'}",
            f"--cluster-signing-cert-file={CERTS / 'ca.crt'}", f"--cluster-signing-key-file={CERTS / 'ca.key'}",
            "--use-service-account-credentials=true", f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--allocate-node-cidrs=false", "--controllers=*,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
            "--profiling=false", "--v=1"])
        start_daemon("kube-scheduler", [
            kb / "kube-scheduler", f"--kubeconfig={STATE / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={STATE / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={STATE / 'scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={PORTS['scheduler']}", "--leader-elect=false",
            "--profiling=false", "--v=1"])

        write_cni_config()
        start_daemon("containerd", ["containerd", "--config", write_containerd_config()])
        wait_for("containerd", lambda: ctr("version", timeout=10).returncode == 0, 60, 0.5, daemon="containerd")
        import_images(images)

        (STATE / "pod-logs").mkdir(exist_ok=True)
        start_daemon("kubelet", [
            kb / "kubelet", f"--config={write_kubelet_config()}", f"--kubeconfig={STATE / 'kubelet-client.kubeconfig'}",
            f"--hostname-override={NODE}", f"--node-ip={NODE_IP}", f"--root-dir={STATE / 'kubelet'}",
            "--v=1"])
        wait_for("the node to be Ready", lambda: "True" in kubectl(
            "get", "node", NODE, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False).stdout,
            180, 1, daemon="kubelet")

        start_daemon("kube-proxy", [kb / "kube-proxy", f"--config={write_kube_proxy_config()}", "--v=1"])
        start_daemon("provisioner", [sys.executable, HERE / "provisioner.py", "--kubectl", kb / "kubectl",
                                     "--kubeconfig", STATE / "provisioner.kubeconfig", "--node", NODE,
                                     "--dir", STATE / "volumes"])
        kubectl("apply", "-f", "-", input=addons_manifest(images))
        wait_for("CoreDNS to be ready", lambda: kubectl(
            "-n", "kube-system", "get", "deploy", "coredns", "-o", "jsonpath={.status.readyReplicas}",
            check=False).stdout.strip() == "1", 180, 1, daemon="kubelet")
        addrs = wait_for("kubernetes.default.svc to resolve through the cluster DNS Service",
                         lambda: dns_query(f"kubernetes.default.svc.{CLUSTER_DOMAIN}"), 60, 1, daemon="kube-proxy")
        if addrs != [API_SERVICE_IP]:
            raise RuntimeError(f"kubernetes.default.svc resolved to {addrs}, expected {API_SERVICE_IP}")
        log(f"DNS: kubernetes.default.svc.{CLUSTER_DOMAIN} -> {addrs[0]} (through {DNS_IP})")
    except BaseException:
        log("k8s-up failed: stopping what was started (scripts/k8s-down) ...")
        try:
            down(None)
        finally:
            raise
    for a, w, t in route_checks():
        log(f"ip route get {a}: {t}")
    (STATE / "up-seconds").write_text(f"{time.monotonic() - t_start:.0f} {time.monotonic() - t_all:.0f}\n")
    log(f"cluster up: {time.monotonic() - t_start:.0f} s to start, {time.monotonic() - t_all:.0f} s in all")
    print(f"\nKUBECONFIG={KUBECONFIG}")
    print(f"  {kube_bin() / 'kubectl'} --kubeconfig {KUBECONFIG} get nodes")


def cgroup_pids(root):
    pids = set()
    for p in Path(root).rglob("cgroup.procs") if Path(root).is_dir() else []:
        try:
            pids |= {int(x) for x in p.read_text().split()}
        except OSError:
            pass
    return pids


def kill_cgroup(root, what, spare=()):
    """SIGKILL every process in cgroup root (and below) but the spared PIDs until none is left; 30 s at most."""
    deadline = time.monotonic() + 30
    n = 0
    while time.monotonic() < deadline:
        pids = cgroup_pids(root) - {os.getpid()} - set(spare)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                n += 1
            except ProcessLookupError:
                pass
        time.sleep(0.3)
    left = cgroup_pids(root) - set(spare)
    if left:
        log(f"WARNING: {what}: processes still alive: {sorted(left)}")
    elif n:
        log(f"killed {n} remaining {what} processes")


def rmdir_cgroups(root):
    root = Path(root)
    if not root.is_dir():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [root]:
        for _ in range(20):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.2)


def our_mounts():
    """Mount points under our directories (and containerd's pod netns bind mounts), deepest first."""
    prefixes = (str(STATE) + "/", str(RUN) + "/", str(CACHE / "buildah") + "/")
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp.startswith(prefixes):
                out.append(mp)
    return sorted(set(out), key=lambda m: -m.count("/"))


def down(_args):
    if os.geteuid() != 0:
        sys.exit("k8s-down: run as root")
    try:
        host = json.loads((RUN / "host-state.json").read_text())
    except (OSError, ValueError):
        host = None
    # the node agents first (no restarts of pods while we stop them), then the pods, then the control plane
    for name in ("kubelet", "kube-proxy", "provisioner", "kube-scheduler", "kube-controller-manager"):
        stop_daemon(name)
    for ctrl_root in Path("/sys/fs/cgroup").glob("*/kubepods"):
        kill_cgroup(ctrl_root, "pod")
    stop_daemon("containerd")
    # the shims (containerd's children) are in our cgroup; the API server and etcd stop cleanly after them
    kill_cgroup(cgroup_dir(), "containerd shim", spare=[p for p in map(daemon_pid, ("kube-apiserver", "etcd")) if p])
    stop_daemon("kube-apiserver")
    stop_daemon("etcd")
    kill_cgroup(cgroup_dir(), "bulwark-k8s")

    for mp in our_mounts():
        if run("umount", mp, check=False).returncode != 0:
            run("umount", "-l", mp, check=False)
    # the pods' network namespaces (cni-*), made by containerd while we ran
    before = set(host["netns"]) if host else None
    if os.path.isdir("/run/netns"):
        for ns in os.listdir("/run/netns"):
            if ns.startswith("cni-") and (before is None or ns not in before):
                run("umount", f"/run/netns/{ns}", check=False)
                run("ip", "netns", "delete", ns, check=False)
                Path(f"/run/netns/{ns}").unlink(missing_ok=True)
    # veths left on the bridge, the bridge, the routes
    r = run("ip", "-o", "link", "show", "master", BRIDGE, check=False)
    for line in r.stdout.splitlines():
        dev = line.split(":")[1].strip().split("@")[0]
        run("ip", "link", "delete", dev, check=False)
    run("ip", "link", "delete", BRIDGE, check=False)
    run("ip", "route", "delete", "blackhole", POD_RANGE, check=False)
    run("ip", "route", "delete", SERVICE_RANGE, check=False)
    # iptables: kube-proxy's own cleanup, then any KUBE-*/CNI-* chain that was not there before, and ours
    kp = kube_bin() / "kube-proxy"
    if kp.exists():
        run(kp, "--cleanup", check=False, timeout=60)
    for rule in forward_rules():
        while run("iptables", "-D", *rule, check=False).returncode == 0:
            pass
    clean_chains(host["iptables"] if host else None)
    rmdir_cgroups(cgroup_dir())
    for ctrl_root in Path("/sys/fs/cgroup").glob("*/kubepods"):
        rmdir_cgroups(ctrl_root)
    if host:
        for k, v in host["sysctl"].items():
            if run("sysctl", "-n", k, check=False).stdout.strip() != v:
                run("sysctl", "-q", "-w", f"{k}={v}", check=False)
        for p in ("/var/log/containers", "/var/log/pods"):
            if p not in host["varlog"]:
                shutil.rmtree(p, ignore_errors=True)
    left = leftovers(host)
    if left:
        log("k8s-down: LEFT BEHIND: " + "; ".join(left))
        return 1
    log("k8s-down: nothing left (no process, mount, route, rule, netns, veth or cgroup of the cluster)")
    return 0


def clean_chains(before):
    for tool in ("iptables", "ip6tables"):
        save = run(f"{tool}-save", check=False).stdout
        table = None
        for line in save.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":"):
                chain = line.split()[0][1:]
                known = before and chain in before.get(tool, [])
                if chain.startswith(("KUBE-", "CNI-")) and not known:
                    run(tool, "-t", table, "-F", chain, check=False)
        # a second pass: the references are gone now, so the chains can be deleted
        for line in save.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":"):
                chain = line.split()[0][1:]
                known = before and chain in before.get(tool, [])
                if chain.startswith(("KUBE-", "CNI-")) and not known:
                    # rules in built-in chains that jump to it
                    for l2 in run(f"{tool}-save", "-t", table, check=False).stdout.splitlines():
                        if l2.startswith("-A ") and f"-j {chain}" in l2:
                            run(tool, "-t", table, "-D", *l2.split()[1:], check=False)
                    run(tool, "-t", table, "-X", chain, check=False)


def leftovers(host):
    left = []
    for name in (os.listdir(PIDS) if PIDS.exists() else []):
        if daemon_pid(name):
            left.append(f"daemon {name} runs")
    pids = cgroup_pids(cgroup_dir()) | set().union(*[cgroup_pids(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods")])
    if pids:
        left.append(f"processes {sorted(pids)}")
    if our_mounts():
        left.append(f"mounts {our_mounts()[:5]}")
    if run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        left.append(f"bridge {BRIDGE}")
    routes = run("ip", "route", "show", check=False).stdout
    for r in (POD_RANGE, SERVICE_RANGE):
        if r in routes:
            left.append(f"route {r}")
    before = set(host["netns"]) if host else set()
    if os.path.isdir("/run/netns"):
        extra = [n for n in os.listdir("/run/netns") if n.startswith("cni-") and n not in before]
        if extra:
            left.append(f"netns {extra}")
    chains = iptables_chains()
    for tool, names in chains.items():
        known = set(host["iptables"][tool]) if host else set()
        extra = [c for c in names if c.startswith(("KUBE-", "CNI-")) and c not in known]
        if extra:
            left.append(f"{tool} chains {extra[:5]}")
    if RULE_COMMENT in run("iptables-save", check=False).stdout:
        left.append("iptables rules with comment bulwark-k8s")
    if cgroup_dir().exists() or list(Path("/sys/fs/cgroup").glob("*/kubepods")):
        left.append("cgroups")
    vs = run("ip", "-o", "link", "show", "type", "veth", check=False).stdout
    if "master " + BRIDGE in vs:
        left.append("veths on the bridge")
    return left


def status(_args):
    for name in sorted(os.listdir(PIDS)) if PIDS.exists() else []:
        print(f"{name:24} {daemon_pid(name) or 'not running'}")
    if KUBECONFIG.exists():
        print(kubectl("get", "nodes,pods", "-A", "-o", "wide", check=False).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="build what is missing and start the cluster")
    sub.add_parser("down", help="stop the cluster and remove everything it made")
    sub.add_parser("build-only", help="build (or find in the cache) every binary and image; start nothing")
    sub.add_parser("images", help="build the images and import them into the running cluster's containerd")
    sub.add_parser("status", help="the daemons and the cluster's pods")
    a = ap.parse_args()
    if a.cmd == "up":
        up(a)
    elif a.cmd == "down":
        sys.exit(down(a))
    elif a.cmd == "build-only":
        RUN.mkdir(parents=True, exist_ok=True)
        build_all()
    elif a.cmd == "images":
        import_images(build_all())
    elif a.cmd == "status":
        status(a)


if __name__ == "__main__":
    main()
