"""A pod killer in the manner of chaoskube (github.com/linki/chaoskube), for scripts/k8s-e2e --chaos.

chaoskube itself cannot be built on our machines: the Go module proxy refuses it
(`go list -m -versions github.com/linki/chaoskube` answers "403 Forbidden: This module version is not
available"). This does what the issue asks of it, as chaoskube does: at each interval it lists the pods that
match a namespace and a label selector, leaves out pods already terminating or not yet running, picks one at
random and deletes it with the pod's own grace period (a delete, not an eviction: PodDisruptionBudgets do not
stop it). The interval is drawn anew each time between min_interval and max_interval seconds.
"""
import json
import random
import subprocess
import time


class ChaosKube:
    def __init__(self, kubectl_path, kubeconfig, namespace, labels, min_interval=10, max_interval=30, seed=None,
                 log=print):
        self.base = [str(kubectl_path), "--kubeconfig", str(kubeconfig), "-n", namespace]
        self.labels = labels
        self.min_interval, self.max_interval = min_interval, max_interval
        self.rng = random.Random(seed)
        self.log = log
        self.deletions = []          # (time, pod, kind)
        self.last_deletion = None

    def candidates(self):
        r = subprocess.run(self.base + ["get", "pods", "-l", self.labels, "-o", "json"], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            self.log(f"chaoskube: listing pods failed: {r.stderr.strip()}")
            return []
        return [p for p in json.loads(r.stdout)["items"]
                if p["metadata"].get("deletionTimestamp") is None and p["status"].get("phase") == "Running"]

    def kill_one(self):
        ps = self.candidates()
        if not ps:
            self.log("chaoskube: no candidate pod")
            return
        p = self.rng.choice(ps)
        name = p["metadata"]["name"]
        kind = p["metadata"]["labels"].get("app.kubernetes.io/component", "?")
        r = subprocess.run(self.base + ["delete", "pod", name, "--wait=false"], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            self.log(f"chaoskube: delete {name} failed: {r.stderr.strip()}")
            return
        t = time.time()
        self.deletions.append((t, name, kind))
        self.last_deletion = t
        self.log(f"chaoskube: deleted pod {name} ({kind}), deletion #{len(self.deletions)}")

    def run(self, duration):
        end = time.monotonic() + duration
        while True:
            wait = self.rng.uniform(self.min_interval, self.max_interval)
            if time.monotonic() + wait > end:
                time.sleep(max(0.0, end - time.monotonic()))
                return
            time.sleep(wait)
            self.kill_one()

    def by_kind(self):
        out = {}
        for _, _, kind in self.deletions:
            out[kind] = out.get(kind, 0) + 1
        return out
