#!/usr/bin/python3
"""scripts/k8s-e2e: the Helm chart on the live cluster of scripts/k8s-up, the walkthrough of
docs/kubernetes.md with each step checked, and optionally chaos.

    scripts/k8s-e2e [--keep] [--chaos DURATION] [--master-deletions N]

 1. the bulwark image, built from deploy/container/Containerfile (cached by the hash of its sources), is
    imported into the node; `helm install` of deploy/helm/bulwark with deploy/helm/bulwark/ci/live-values.yaml
    into a namespace that enforces the "restricted" Pod Security Standard; every pod Ready, one master and two
    streaming standbys (the time from `helm install` is reported)
 2. psql, in a client pod, through the read-write Service's DNS name: create a table, insert, select; the row
    read through the read-only Service from a standby (pg_is_in_recovery)
 3. `kubectl delete pod` of the master's keeper pod, N times (default 5): seconds until the read-write Service
    takes a write again (a writer on this machine inserting every 50 ms through the Service's address), the pod
    back on the same PersistentVolumeClaim with the same keeper uid (the StatefulSet recreates it in about 2 s,
    so it is often the master again: no failover), the row intact, no acknowledged write missing; then once
    more with the node cordoned until the sentinel has failed over (the pod cannot come back at once, as when
    its node is lost): the pod, let back in, must rejoin as a standby
 4. the same for the leader sentinel's pod, a proxy pod and an etcd member's pod (writes keep working or come
    back, the pod comes back, etcd has 3 healthy members)
 5. with --chaos DURATION: tests/k8s/chaoskube.py deletes a random pod of the release every 10-30 s while
    writers insert through the read-write Service and a reader reads through the read-only Service; the report
    counts pods deleted by kind, writes acknowledged and lost, the longest write gap and the time to healthy
    after the last deletion; any lost acknowledged write fails the run
Without --keep the release and the cluster are removed at the end (scripts/k8s-down); with --keep both stay
and the script prints how to reach them. Exit 0 PASS, 1 FAIL, 2 could not run.
"""
import argparse
import json
import random
import re
import statistics
import sys
import threading
import time
import urllib.request
from importlib.machinery import SourceFileLoader
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "chaos"))
import cluster  # noqa: E402

import psycopg  # noqa: E402

CHART = REPO / "deploy" / "helm" / "bulwark"
VALUES = CHART / "ci" / "live-values.yaml"
NS = "db"
RELEASE = "pg"
FULL = "pg-bulwark"
SEL = f"app.kubernetes.io/instance={RELEASE}"
KINDS = ("keeper", "sentinel", "proxy", "etcd")
REPLICAS = {"keeper": 3, "sentinel": 2, "proxy": 2, "etcd": 3}


def log(msg):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Fail(Exception):
    pass


def kubectl(*args, check=True, timeout=60, input=None):
    return cluster.kubectl(*args, check=check, timeout=timeout, input=input)


def kjson(*args):
    return json.loads(kubectl(*args, "-o", "json").stdout)


def wait_for(what, fn, timeout, interval=1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(interval)
    raise Fail(f"timed out after {timeout:.0f} s waiting for {what}" + (f" (last error: {last})" if last else ""))


# ------------------------------------------------------------------------------------------------- the pods

def pods(kind=None):
    sel = SEL + (f",app.kubernetes.io/component={kind}" if kind else "")
    return kjson("-n", NS, "get", "pods", "-l", sel)["items"]


def ready(p):
    return p["metadata"].get("deletionTimestamp") is None and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])


def http_status(ip, port, path, timeout=2):
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def keeper_roles():
    """{pod name: (ip, "master"|"standby"|None)} from the keepers' /primary and /replica endpoints."""
    out = {}
    for p in pods("keeper"):
        ip = p["status"].get("podIP")
        role = None
        if ip and p["metadata"].get("deletionTimestamp") is None:
            if http_status(ip, 8431, "/primary") == 200:
                role = "master"
            elif http_status(ip, 8431, "/replica") == 200:
                role = "standby"
        out[p["metadata"]["name"]] = (ip, role)
    return out


def all_ready():
    ps = pods()
    by = {k: [p for p in ps if p["metadata"]["labels"].get("app.kubernetes.io/component") == k] for k in KINDS}
    return all(len([p for p in by[k] if ready(p)]) == n and len(by[k]) == n for k, n in REPLICAS.items())


def healthy():
    """Every pod Ready, one master and two standbys, the standbys streaming from the master."""
    if not all_ready():
        return False
    roles = [r for _, r in keeper_roles().values()]
    if roles.count("master") != 1 or roles.count("standby") != 2:
        return False
    return True


def master_pod():
    ms = [(n, ip) for n, (ip, r) in keeper_roles().items() if r == "master"]
    return ms[0] if len(ms) == 1 else None


def service_ip(name):
    return kjson("-n", NS, "get", "svc", name)["spec"]["clusterIP"]


def password():
    import base64
    s = kjson("-n", NS, "get", "secret", f"{FULL}-auth")
    return base64.b64decode(s["data"]["superuser-password"]).decode()


def conninfo(host, pw, timeout=2):
    return dict(host=host, port=5432, user="postgres", password=pw, dbname="postgres", connect_timeout=timeout,
                autocommit=True, keepalives=1, keepalives_idle=1, keepalives_interval=1, keepalives_count=3,
                tcp_user_timeout=4000)


def sql(host, pw, query, params=None):
    with psycopg.connect(**conninfo(host, pw)) as c:
        cur = c.execute(query, params)
        return cur.fetchall() if cur.description else []


# ---------------------------------------------------------------------------------------------- the writer

class Writer:
    """Inserts a unique id every `pace` seconds through one address (a Service's), a new connection after any
    error; records every acknowledged id with its send and ack times and the server that took it."""

    def __init__(self, host, pw, table="e2e_writes", pace=0.05, name="w"):
        self.host, self.pw, self.table, self.pace, self.name = host, pw, table, pace, name
        self.acks = []            # (id, t_send, t_ack, server address)
        self.errors = 0
        self.stop = threading.Event()
        self.seq = 0
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def loop(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(**conninfo(self.host, self.pw))
                self.seq += 1
                ident = self.seq
                t0 = time.time()
                row = conn.execute(f"insert into {self.table} (id, writer) values (%s, %s) "
                                   "returning inet_server_addr()::text", (ident, self.name)).fetchone()
                self.acks.append((ident, t0, time.time(), row[0].split("/")[0]))
            except psycopg.Error:
                self.errors += 1
                try:
                    if conn is not None:
                        conn.close()
                except Exception:  # noqa: BLE001
                    pass
                conn = None
                time.sleep(0.05)
                continue
            time.sleep(self.pace)
        if conn is not None:
            conn.close()

    def finish(self):
        self.stop.set()
        self.thread.join(15)

    def first_ack_after(self, t, not_server=None):
        for ident, t0, t1, srv in self.acks:
            if t0 >= t and srv != not_server:
                return t1
        return None

    def longest_gap(self, t_from, t_to):
        times = [t1 for _, _, t1, _ in self.acks if t_from <= t1 <= t_to]
        edges = [t_from] + times + [t_to]
        return max(b - a for a, b in zip(edges, edges[1:])) if len(edges) > 1 else None


def check_no_lost(writers, rw, pw, table="e2e_writes"):
    """Every acknowledged id of the writers is in the table on the master (read through the RW Service)."""
    have = {(w, i) for i, w in wait_for("a read of the writes through the RW Service",
                                        lambda: sql(rw, pw, f"select id, writer from {table}"), 60)}
    lost = [(w.name, a[0]) for w in writers for a in w.acks if (w.name, a[0]) not in have]
    return sum(len(w.acks) for w in writers), lost


# --------------------------------------------------------------------------------------------------- steps

class E2E:
    def __init__(self, a):
        self.a = a
        self.figures = {}
        self.failures = []
        self.kb = cluster.kube_bin()
        self.installed = False   # this run installed the release (so it removes it, and the cluster, at the end)

    def helm(self, *args, timeout=600):
        cc = SourceFileLoader("chart_check", str(REPO / "scripts" / "chart-check")).load_module()
        helm, _, _ = cc.ensure_tools()
        return cluster.run(helm, "--kubeconfig", cluster.KUBECONFIG, *args, timeout=timeout)

    def check(self, what, ok, detail=""):
        log(("PASS  " if ok else "FAIL  ") + what + (f": {detail}" if detail else ""))
        if not ok:
            self.failures.append(what + (f": {detail}" if detail else ""))
        return ok

    # 1 ------------------------------------------------------------------------------------------------------
    def install(self):
        if kubectl("get", "node", cluster.NODE, check=False).returncode != 0:
            raise Fail("no cluster: run scripts/k8s-up first")
        name, archive = cluster.build_bulwark_image()
        cluster.import_images({"bulwark": (name, archive)})
        tag = name.rsplit(":", 1)[1]
        if kubectl("get", "ns", NS, check=False).returncode == 0:
            raise Fail(f"namespace {NS} exists: a previous run was kept (helm -n {NS} uninstall {RELEASE}; "
                       f"kubectl delete ns {NS}), or run scripts/k8s-down and scripts/k8s-up")
        kubectl("create", "namespace", NS)
        # the chart must pass the strictest Pod Security Standard: admission refuses any pod that does not
        kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted",
                "pod-security.kubernetes.io/enforce-version=latest")
        t0 = time.monotonic()
        self.installed = True
        self.helm("install", RELEASE, CHART, "-n", NS, "-f", VALUES, "--set", f"image.tag={tag}")
        log(f"helm install {RELEASE} (image {name}) ...")
        wait_for("every pod of the release Ready, one master and two standbys", healthy, 600, 1)
        t = time.monotonic() - t0
        self.figures["install_to_ready_s"] = round(t, 1)
        self.check("helm install: every pod Ready, one master, two standbys", True, f"{t:.1f} s after helm install")
        self.pw = password()
        self.rw, self.ro = service_ip(f"{FULL}-proxy"), service_ip(f"{FULL}-proxy-ro")
        evs = kubectl("-n", NS, "get", "events", "--field-selector", "reason=FailedCreate", "-o", "name").stdout
        self.check("no pod refused by Pod Security admission (restricted)", not evs.strip(), evs.strip())

    # 2 ------------------------------------------------------------------------------------------------------
    def client_pod(self):
        """A pod with psql (the bulwark image has PostgreSQL's client), for the walkthrough's commands."""
        image = pods("keeper")[0]["spec"]["containers"][0]["image"]
        manifest = {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "psql", "namespace": NS},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "psql", "image": image, "imagePullPolicy": "Never",
                    "command": ["sleep", "infinity"],
                    "env": [{"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": f"{FULL}-auth",
                                                                                  "key": "superuser-password"}}}],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}}}],
                "terminationGracePeriodSeconds": 1,
            }}
        kubectl("apply", "-f", "-", input=json.dumps(manifest))
        kubectl("-n", NS, "wait", "--for=condition=Ready", "pod/psql", "--timeout=120s", timeout=130)

    def psql(self, service, query):
        host = f"{FULL}-{service}.{NS}.svc.cluster.local"
        r = kubectl("-n", NS, "exec", "psql", "--", "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                    f"host={host} port=5432 user=postgres dbname=postgres connect_timeout=5", "-c", query,
                    check=False, timeout=60)
        return r.returncode, (r.stdout + r.stderr).strip()

    def walkthrough(self):
        self.client_pod()
        rc, out = self.psql("proxy", "create table walkthrough (id int primary key, note text)")
        self.check("psql through the read-write Service (DNS name): create table", rc == 0, out)
        rc, out = self.psql("proxy", "insert into walkthrough values (1, 'written through the RW Service')")
        self.check("psql through the read-write Service: insert", rc == 0 and "INSERT 0 1" in out, out)
        rc, out = self.psql("proxy", "select note from walkthrough where id = 1")
        self.check("psql through the read-write Service: select", rc == 0 and out == "written through the RW Service", out)
        got = wait_for("the row on a standby through the read-only Service", lambda: (lambda r: r if r[0] == 0 and
                       r[1].startswith("t|") else None)(self.psql("proxy-ro",
                       "select pg_is_in_recovery(), note from walkthrough where id = 1")), 60)
        self.check("psql through the read-only Service: the row, read from a standby", True, got[1])
        sql(self.rw, self.pw, "create table e2e_writes (id bigint, writer text, at timestamptz default now(), "
                              "primary key (writer, id))")

    # 3 ------------------------------------------------------------------------------------------------------
    def pvc_uid(self, pod):
        return kjson("-n", NS, "get", "pvc", f"data-{pod}")["metadata"]["uid"]

    def keeper_uid(self, pod):
        r = kubectl("-n", NS, "exec", pod, "--", "cat", "/var/lib/bulwark/data/keeper/keeperstate", check=False)
        m = re.search(r'"uid"\s*:\s*"([a-z0-9_]+)"', r.stdout)
        return m.group(1) if m else None

    def pod_uid(self, name):
        r = kubectl("-n", NS, "get", "pod", name, "-o", "jsonpath={.metadata.uid}", check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    def delete_master(self, n, hold=False):
        """Delete the master's pod; seconds until the RW Service takes a write again. With hold, the node is
        cordoned first so the pod cannot come back at once (as when its node is gone): the sentinel fails the
        master over after failInterval, and the pod, let back in, must rejoin as a standby."""
        name, ip = wait_for("a master", master_pod, 120)
        pvc, kuid, puid = self.pvc_uid(name), self.keeper_uid(name), self.pod_uid(name)
        w = Writer(self.rw, self.pw, name=f"master{n}").start()
        wait_for("the writer's first write", lambda: w.acks, 30, 0.1)
        if hold:
            kubectl("cordon", cluster.NODE)
        t0 = time.time()
        try:
            kubectl("-n", NS, "delete", "pod", name, "--wait=false")
            t_write = wait_for("a write through the RW Service on a new master",
                               lambda: w.first_ack_after(t0, not_server=ip), 120, 0.05)
        finally:
            if hold:
                time.sleep(5)
                kubectl("uncordon", cluster.NODE)
        secs = t_write - t0
        new_master_ip = next((srv for _, t_send, t1, srv in w.acks if t1 == t_write), None)
        wait_for(f"{name} recreated and the cluster healthy", lambda: self.pod_uid(name) not in (None, puid)
                 and healthy(), 300, 1)
        w.finish()
        roles = keeper_roles()
        new_ip, role = roles[name]
        failover = role == "standby"
        same_pvc = self.pvc_uid(name) == pvc
        same_uid = self.keeper_uid(name) == kuid
        row = sql(new_ip, self.pw, "select pg_is_in_recovery(), note from walkthrough where id = 1")
        total, lost = check_no_lost([w], self.rw, self.pw)
        outcome = (f"failover to {next(p for p, (i, r) in roles.items() if r == 'master')}, {name} back as a standby"
                   if failover else f"{name} came back as the master before failInterval (no failover)")
        self.check(f"delete master pod #{n} ({name}{', node cordoned' if hold else ''}): RW Service takes writes "
                   f"again", True, f"{secs:.2f} s; {outcome}; first write on {new_master_ip}; {w.errors} client errors")
        ok = same_pvc and same_uid and bool(row) and row[0][1] is not None and not lost and (failover or not hold)
        self.check(f"  {name} back in the cluster with its volume and keeper uid, the row intact, no acknowledged "
                   f"write lost" + (" (as a standby)" if hold else ""), ok,
                   f"same PVC {same_pvc}, same keeper uid {same_uid} ({kuid}), row {row}, {total} acknowledged, "
                   f"lost {lost[:5]}")
        return secs, failover

    def delete_other(self, kind):
        ps = [p for p in pods(kind) if ready(p)]
        if kind == "sentinel":
            leaders = [p for p in ps if "bulwark_sentinel_is_leader 1" in self.metrics(p, 8430)]
            victim = (leaders or ps)[0]
        elif kind == "etcd":
            victim = ps[0]
        else:
            victim = random.choice(ps)
        name = victim["metadata"]["name"]
        w = Writer(self.rw, self.pw, name=f"{kind}-del").start()
        wait_for("the writer's first write", lambda: w.acks, 30, 0.1)
        t0 = time.time()
        kubectl("-n", NS, "delete", "pod", name, "--wait=false")
        time.sleep(3)
        wait_for(f"a new {kind} pod Ready and the cluster healthy", healthy, 300, 1)
        t_healthy = time.time()
        time.sleep(2)
        w.finish()
        gap = w.longest_gap(t0, t_healthy)
        total, lost = check_no_lost([w], self.rw, self.pw)
        extra = ""
        if kind == "etcd":
            members = self.etcd_members()
            extra = f"; etcd members {members}"
            ok_etcd = len(members) == 3 and all(h for _, h in members)
        else:
            ok_etcd = True
        self.figures[f"{kind}_deletion"] = {"pod": name, "longest_write_gap_s": round(gap or 0, 2),
                                            "healthy_after_s": round(t_healthy - t0, 1)}
        self.check(f"delete {kind} pod {name}: back and healthy, writes through the RW Service go on",
                   not lost and ok_etcd,
                   f"healthy after {t_healthy - t0:.1f} s, longest write gap {gap:.2f} s, {total} writes "
                   f"acknowledged, lost {len(lost)}{extra}")

    def metrics(self, p, port):
        try:
            with urllib.request.urlopen(f"http://{p['status']['podIP']}:{port}/metrics", timeout=2) as r:
                return r.read().decode()
        except OSError:
            return ""

    def etcd_members(self):
        out = []
        for p in pods("etcd"):
            ip = p["status"].get("podIP")
            ok = http_status(ip, 2379, "/health") == 200 if ip else False
            out.append((p["metadata"]["name"], ok))
        return out

    # 5 ------------------------------------------------------------------------------------------------------
    def chaos(self, duration):
        import chaoskube
        import agent
        sql(self.rw, self.pw, "create table if not exists chaos_ids (id bigint primary key, client int, "
                              "at timestamptz default now())")
        sql(self.rw, self.pw, "create table if not exists chaos_counter (k int primary key, v bigint)")
        sql(self.rw, self.pw, "insert into chaos_counter values (0, 0) on conflict do nothing")
        events = Path(cluster.STATE) / "e2e-chaos-events.jsonl"
        events.unlink(missing_ok=True)
        alog = agent.Log(events)
        agent.WATCHING.set()     # no etcd watcher here: the writers start at once
        agent.STOP.clear()
        threads = [threading.Thread(target=agent.writer, args=(n, [(self.rw, 5432)], self.pw, alog), daemon=True)
                   for n in range(2)]
        threads.append(threading.Thread(target=agent.reader, args=(0, [(self.ro, 5432)], self.pw, alog),
                                        daemon=True))
        for t in threads:
            t.start()
        killer = chaoskube.ChaosKube(kubectl_path=self.kb / "kubectl", kubeconfig=cluster.KUBECONFIG,
                                     namespace=NS, labels=f"{SEL},app.kubernetes.io/component in "
                                                          f"(keeper,sentinel,proxy,etcd)",
                                     min_interval=10, max_interval=30, log=log)
        t_start = time.time()
        log(f"chaos: deleting a random pod of the release every 10-30 s for {duration:.0f} s, under 2 writers "
            f"(RW Service) and a reader (RO Service)")
        killer.run(duration)
        t_last = killer.last_deletion or t_start
        try:
            wait_for("the cluster healthy after the last deletion", healthy, 600, 1)
            t_healthy = time.time()
        except Fail:
            t_healthy = None
        # a write acknowledged after healthy, then stop
        time.sleep(5)
        agent.STOP.set()
        for t in threads:
            t.join(20)
        evs = [json.loads(line) for line in open(events) if line.strip()]
        acks = [e for e in evs if e["k"] == "ack"]
        ctrs = [e for e in evs if e["k"] == "ctr"]
        reads = [e for e in evs if e["k"] == "reads"]
        have = {r[0] for r in wait_for("the final read of chaos_ids", lambda: sql(self.rw, self.pw,
                                       "select id from chaos_ids"), 120)}
        final_ctr = sql(self.rw, self.pw, "select v from chaos_counter where k = 0")[0][0]
        lost = [e["id"] for e in acks if e["id"] not in have]
        vals = [e["v"] for e in ctrs]
        dups = len(vals) - len(set(vals))
        ack_times = sorted([e["t1"] for e in acks + ctrs])
        edges = [t_start] + [t for t in ack_times if t >= t_start] + [ack_times[-1] if ack_times else t_start]
        gaps = [b - a for a, b in zip(edges, edges[1:])]
        report = {
            "duration_s": round(time.time() - t_start), "chaos_s": round(duration),
            "pods_deleted": killer.by_kind(), "deletions": len(killer.deletions),
            "writes_acknowledged": len(acks), "counter_increments_acknowledged": len(ctrs),
            "writes_lost": len(lost), "lost_ids": lost[:20], "counter_duplicates": dups,
            "counter_final": final_ctr, "counter_max_acknowledged": max(vals) if vals else 0,
            "client_errors": len([e for e in evs if e["k"] == "err"]),
            "reads": {"ok": sum(r["ok"] for r in reads), "errors": sum(r["err"] for r in reads)},
            "longest_write_gap_s": round(max(gaps), 2) if gaps else None,
            "healthy_after_last_deletion_s": round(t_healthy - t_last, 1) if t_healthy else None,
        }
        (Path(cluster.STATE) / "e2e-chaos-report.json").write_text(json.dumps(report, indent=1))
        self.figures["chaos"] = report
        print("\n==================== chaos report ====================")
        for k, v in report.items():
            print(f"{k:34} {v}")
        self.check("chaos: no acknowledged write lost", not lost, f"{len(lost)} of {len(acks)} lost")
        self.check("chaos: every acknowledged counter increment is distinct and kept",
                   dups == 0 and final_ctr >= (max(vals) if vals else 0), f"duplicates {dups}, final {final_ctr}")
        self.check("chaos: healthy again after the last deletion", t_healthy is not None,
                   f"{report['healthy_after_last_deletion_s']} s")
        self.check("chaos: pods of every kind were deleted", all(killer.by_kind().get(k) for k in KINDS) or
                   duration < 300, json.dumps(killer.by_kind()))

    # ------------------------------------------------------------------------------------------------------
    def run(self):
        self.install()
        self.walkthrough()
        res = [self.delete_master(i + 1) for i in range(self.a.master_deletions)]
        secs = [r[0] for r in res]
        self.figures["master_deletion_rw_write_s"] = [round(s, 2) for s in secs]
        self.figures["master_deletion_failovers"] = sum(1 for r in res if r[1])
        if secs:
            self.figures["master_deletion_rw_write_median_s"] = round(statistics.median(secs), 2)
        secs, _ = self.delete_master(len(res) + 1, hold=True)
        self.figures["master_deletion_node_cordoned_rw_write_s"] = round(secs, 2)
        for kind in ("sentinel", "proxy", "etcd"):
            self.delete_other(kind)
        rc, out = self.psql("proxy", "select count(*) from walkthrough")
        self.check("the walkthrough's row is still there at the end", rc == 0 and out == "1", out)
        if self.a.chaos:
            self.chaos(self.a.chaos)

    def teardown(self, keep):
        if keep:
            print(f"\nkept: the cluster and the release. KUBECONFIG={cluster.KUBECONFIG}\n"
                  f"  {self.kb / 'kubectl'} --kubeconfig {cluster.KUBECONFIG} -n {NS} get pods -o wide\n"
                  f"  {self.kb / 'kubectl'} --kubeconfig {cluster.KUBECONFIG} -n {NS} exec -it psql -- "
                  f"psql -h {FULL}-proxy user=postgres  (read-write; {FULL}-proxy-ro: read-only)\n"
                  f"  from this machine: psql -h {getattr(self, 'rw', '?')} -U postgres (PGPASSWORD from the "
                  f"Secret {FULL}-auth)\n  scripts/k8s-down when done")
            return 0
        if not self.installed:
            print("\nnothing was installed by this run: the cluster is left as it was (scripts/k8s-down stops it)")
            return 0
        try:
            self.helm("uninstall", RELEASE, "-n", NS, "--wait", timeout=300)
        except Exception as e:  # noqa: BLE001
            log(f"helm uninstall: {e}")
        return cluster.down(None)


def parse_duration(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)?", s)
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {s!r} (e.g. 90s, 10m, 1h)")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", action="store_true", help="leave the cluster and the release running")
    ap.add_argument("--chaos", type=parse_duration, metavar="DURATION", help="then chaos for this long (10m)")
    ap.add_argument("--master-deletions", type=int, default=5, help="master pod deletions to time (default 5)")
    a = ap.parse_args()
    e = E2E(a)
    t0 = time.monotonic()
    code = 0
    try:
        e.run()
    except Fail as ex:
        e.failures.append(str(ex))
        log(f"FAIL  {ex}")
    except Exception as ex:  # noqa: BLE001
        e.failures.append(f"{type(ex).__name__}: {ex}")
        log(f"ERROR {type(ex).__name__}: {ex}")
        code = 2
    finally:
        snap = Path(cluster.STATE) / "e2e-pods.txt"
        try:
            snap.write_text(kubectl("-n", NS, "get", "pods,pvc", "-o", "wide", check=False).stdout)
        except Exception:  # noqa: BLE001
            pass
    print("\n==================== k8s-e2e figures ====================")
    print(json.dumps(e.figures, indent=1))
    (Path(cluster.STATE) / "e2e-figures.json").write_text(json.dumps(e.figures, indent=1))
    print(f"k8s-e2e: {len(e.failures)} failed checks in {time.monotonic() - t0:.0f} s")
    for f in e.failures:
        print(f"   - {f}")
    down_rc = e.teardown(a.keep)
    if e.failures:
        return code or 1
    return 1 if down_rc else 0


if __name__ == "__main__":
    sys.exit(main())
