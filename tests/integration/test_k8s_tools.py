"""The pieces of the live-cluster run (scripts/k8s-up, scripts/k8s-e2e) that can be checked without a cluster:
the OCI archives containerd imports, the volumes the local-dir provisioner makes, and the pod killer's choice.
Fast; nothing here builds or starts Kubernetes.
"""
import gzip
import hashlib
import io
import json
import stat
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "k8s"))

import chaoskube  # noqa: E402
import oci  # noqa: E402
import provisioner  # noqa: E402


def test_an_oci_archive_holds_a_named_image_whose_blobs_match_their_digests(tmp_path):
    binary = tmp_path / "etcd"
    binary.write_bytes(b"\x7fELF not really")
    out = oci.write_archive(tmp_path / "img.tar", "bulwark.local/etcd:v3.6.16",
                            {"/usr/local/bin/etcd": (binary, 0o755)}, dirs={"/tmp": 0o1777}, cmd=["etcd"])
    with tarfile.open(out) as t:
        names = set(t.getnames())
        assert {"oci-layout", "index.json"} <= names
        blobs = {n.split("/")[-1]: t.extractfile(n).read() for n in names if n.startswith("blobs/sha256/")}
        index = json.loads(t.extractfile("index.json").read())
    for digest, data in blobs.items():
        assert hashlib.sha256(data).hexdigest() == digest
    desc = index["manifests"][0]
    assert desc["annotations"]["io.containerd.image.name"] == "bulwark.local/etcd:v3.6.16"
    manifest = json.loads(blobs[desc["digest"].split(":")[1]])
    config = json.loads(blobs[manifest["config"]["digest"].split(":")[1]])
    assert config["config"]["Cmd"] == ["etcd"]
    layer = tarfile.open(fileobj=io.BytesIO(blobs[manifest["layers"][0]["digest"].split(":")[1]]), mode="r:gz")
    etcd = layer.getmember("usr/local/bin/etcd")
    assert stat.S_IMODE(etcd.mode) == 0o755 and layer.extractfile(etcd).read() == binary.read_bytes()
    assert stat.S_IMODE(layer.getmember("tmp").mode) == 0o1777
    # the diff id in the config is the uncompressed layer's digest
    raw = gzip.decompress(blobs[manifest["layers"][0]["digest"].split(":")[1]])
    assert config["rootfs"]["diff_ids"][0] == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_the_provisioner_binds_a_local_volume_to_the_claim_on_the_node(tmp_path):
    pvc = {"metadata": {"name": "data-pg-bulwark-keeper-0", "namespace": "db",
                        "uid": "2d5ecb42-b4f4-49ce-8b9a-9996d8ea28f5"},
           "spec": {"resources": {"requests": {"storage": "1Gi"}}, "accessModes": ["ReadWriteOnce"]}}
    name, path, pv = provisioner.pv_for(pvc, "bulwark-node", tmp_path)
    assert name == "pvc-2d5ecb42-b4f4-49ce-8b9a-9996d8ea28f5"
    assert path.parent == tmp_path
    spec = pv["spec"]
    assert spec["claimRef"]["uid"] == pvc["metadata"]["uid"] and spec["claimRef"]["namespace"] == "db"
    assert spec["local"]["path"] == str(path) and spec["capacity"]["storage"] == "1Gi"
    assert spec["storageClassName"] == "local-dir" and spec["persistentVolumeReclaimPolicy"] == "Delete"
    term = spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert term["values"] == ["bulwark-node"]
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == provisioner.PROVISIONER


def fake_kubectl(tmp_path, pods):
    """A kubectl that lists the given pods and records deletions."""
    (tmp_path / "pods.json").write_text(json.dumps({"items": pods}))
    script = tmp_path / "kubectl"
    script.write_text(f"""#!/usr/bin/python3
import sys
args = sys.argv[1:]
if "get" in args:
    print(open("{tmp_path / 'pods.json'}").read())
elif "delete" in args:
    open("{tmp_path / 'deleted'}", "a").write(args[args.index("pod") + 1] + "\\n")
""")
    script.chmod(0o755)
    return script


def pod(name, kind, phase="Running", terminating=False):
    md = {"name": name, "labels": {"app.kubernetes.io/component": kind}}
    if terminating:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": md, "status": {"phase": phase}}


def test_the_pod_killer_deletes_only_running_pods_that_are_not_terminating(tmp_path):
    pods = [pod("pg-bulwark-keeper-0", "keeper"), pod("pg-bulwark-etcd-1", "etcd"),
            pod("pg-bulwark-keeper-1", "keeper", terminating=True), pod("pg-bulwark-proxy-x", "proxy", "Pending")]
    k = chaoskube.ChaosKube(fake_kubectl(tmp_path, pods), tmp_path / "kubeconfig", "db", "x=y", 0.01, 0.02,
                            seed=1, log=lambda m: None)
    for _ in range(20):
        k.kill_one()
    deleted = (tmp_path / "deleted").read_text().split()
    assert len(deleted) == 20 and set(deleted) == {"pg-bulwark-keeper-0", "pg-bulwark-etcd-1"}
    assert sum(k.by_kind().values()) == 20 and set(k.by_kind()) == {"keeper", "etcd"}
    assert k.last_deletion is not None


def test_the_pod_killer_waits_between_its_bounds(tmp_path):
    k = chaoskube.ChaosKube(fake_kubectl(tmp_path, [pod("a", "keeper")]), tmp_path / "kc", "db", "x=y", 0.05, 0.1,
                            seed=2, log=lambda m: None)
    k.run(0.5)
    times = [t for t, _, _ in k.deletions]
    assert 3 <= len(times) <= 10
    assert all(0.04 <= b - a <= 0.3 for a, b in zip(times, times[1:]))
