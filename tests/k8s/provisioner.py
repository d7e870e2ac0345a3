#!/usr/bin/python3
"""The test cluster's volume provisioner: StorageClass "local-dir" (provisioner bulwark.local/local-dir).

For each PersistentVolumeClaim of that class that the scheduler has placed (WaitForFirstConsumer: the claim has
the volume.kubernetes.io/selected-node annotation), it makes a directory under --dir and a `local`
PersistentVolume bound to the claim (claimRef) with the node's affinity. A `local` volume, unlike hostPath,
gets the pod's fsGroup applied by the kubelet, as a cloud disk would. When a claim is deleted its volume is
Released: the directory and the PersistentVolume are deleted (reclaimPolicy Delete).

A StatefulSet pod that is deleted and recreated keeps its claim, so it finds its volume as it left it.
Started and stopped by tests/k8s/cluster.py (scripts/k8s-up); polls the API every second through kubectl.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

CLASS = "local-dir"
PROVISIONER = "bulwark.local/local-dir"


def log(msg):
    print(f"[provisioner {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Kube:
    def __init__(self, kubectl, kubeconfig):
        self.base = [kubectl, "--kubeconfig", kubeconfig]

    def get(self, *what):
        r = subprocess.run(self.base + ["get", *what, "-o", "json"], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip())
        return json.loads(r.stdout)["items"]

    def create(self, obj):
        r = subprocess.run(self.base + ["create", "-f", "-"], input=json.dumps(obj), capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0 and "AlreadyExists" not in r.stderr:
            raise RuntimeError(r.stderr.strip())

    def delete_pv(self, name):
        r = subprocess.run(self.base + ["delete", "pv", name, "--wait=false"], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0 and "NotFound" not in r.stderr:
            raise RuntimeError(r.stderr.strip())


def pv_for(pvc, node, root):
    md = pvc["metadata"]
    name = f"pvc-{md['uid']}"
    path = root / f"{md['namespace']}-{md['name']}-{md['uid'][:8]}"
    return name, path, {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                     "labels": {"bulwark.local/claim-namespace": md["namespace"]}},
        "spec": {
            "capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]},
            "accessModes": pvc["spec"].get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS,
            "volumeMode": pvc["spec"].get("volumeMode", "Filesystem"),
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": md["namespace"],
                         "name": md["name"], "uid": md["uid"]},
            "local": {"path": str(path)},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        },
    }


def pass_once(kube, node, root):
    pvs = {pv["metadata"]["name"]: pv for pv in kube.get("pv")}
    for pvc in kube.get("pvc", "-A"):
        md, spec = pvc["metadata"], pvc["spec"]
        if spec.get("storageClassName") != CLASS or spec.get("volumeName") or pvc["status"].get("phase") != "Pending":
            continue
        selected = (md.get("annotations") or {}).get("volume.kubernetes.io/selected-node")
        if selected is None:
            continue   # WaitForFirstConsumer: not scheduled yet
        name, path, pv = pv_for(pvc, node, root)
        if name in pvs:
            continue
        # root-owned 0755, as a fresh filesystem is: the pod's fsGroup must make it writable
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)
        kube.create(pv)
        log(f"provisioned {name} at {path} for {md['namespace']}/{md['name']}")
    for name, pv in pvs.items():
        ann = pv["metadata"].get("annotations") or {}
        if ann.get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
            continue
        if pv["status"].get("phase") in ("Released", "Failed") and \
                pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            path = Path(pv["spec"]["local"]["path"])
            if path.parent == root:
                shutil.rmtree(path, ignore_errors=True)
            kube.delete_pv(name)
            log(f"deleted {name} and {path} (its claim is gone)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--dir", required=True, type=Path)
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    kube = Kube(a.kubectl, a.kubeconfig)
    log(f"watching claims of StorageClass {CLASS}; volumes under {a.dir}")
    last_err = None
    while True:
        try:
            pass_once(kube, a.node, a.dir.resolve())
            last_err = None
        except Exception as e:  # noqa: BLE001
            if str(e) != last_err:
                log(f"error: {e}")
            last_err = str(e)
        time.sleep(a.interval)


if __name__ == "__main__":
    sys.exit(main())
