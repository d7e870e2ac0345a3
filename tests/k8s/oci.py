"""Write an OCI image layout archive (what `ctr images import` takes) from files on this machine.

The test cluster's small images (pause, CoreDNS, the chart's etcd) are one static binary each, so they are
written here directly rather than built by a container engine: one layer holding the given files, an image
config, a manifest and an index whose annotations carry the image's full name, so that containerd imports it
under that name. Nothing is pulled; the layer is a reproducible tar (fixed mtimes, numeric root owner).
"""
import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path


def _blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _layer(files, dirs):
    """A gzip'd tar of files ({path in image: (source file or bytes, mode)}) and dirs ({path: mode})."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        made = set()

        def add_dir(p, mode=0o755):
            parts = Path(p).parts
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d in made:
                    continue
                made.add(d)
                ti = tarfile.TarInfo(d)
                ti.type = tarfile.DIRTYPE
                ti.mode = dirs.get("/" + d, mode) if i == len(parts) else 0o755
                ti.mtime = 0
                t.addfile(ti)

        for d in sorted(dirs):
            add_dir(d.strip("/"), dirs[d])
        for path in sorted(files):
            src, mode = files[path]
            rel = path.strip("/")
            if os.path.dirname(rel):
                add_dir(os.path.dirname(rel))
            data = src if isinstance(src, bytes) else Path(src).read_bytes()
            ti = tarfile.TarInfo(rel)
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
    uncompressed = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(uncompressed).hexdigest()
    return diff_id, gzip.compress(uncompressed, mtime=0)


def write_archive(out, name, files, dirs=None, entrypoint=None, cmd=None, env=None, user="", workdir="/"):
    """Write the OCI layout tar `out` for image `name` (a full reference, e.g. bulwark.local/etcd:v3.6.16)."""
    diff_id, layer = _layer(files, dirs or {})
    layer_digest, _ = _blob(layer)
    config = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {"Env": env or ["PATH=/usr/local/bin:/usr/bin:/bin"], "Entrypoint": entrypoint, "Cmd": cmd,
                   "User": user, "WorkingDir": workdir},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "tests/k8s/oci.py"}],
    }
    config_digest, config_bytes = _blob(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config_bytes)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                    "size": len(layer)}],
    }
    manifest_digest, manifest_bytes = _blob(json.dumps(manifest, sort_keys=True).encode())
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                       "size": len(manifest_bytes),
                       "annotations": {"io.containerd.image.name": name,
                                       "org.opencontainers.image.ref.name": tag}}],
    }
    tmp = Path(str(out) + ".tmp")
    with tarfile.open(tmp, "w") as t:
        def put(path, data):
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
        put("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        put("index.json", json.dumps(index).encode())
        for digest, data in ((layer_digest, layer), (config_digest, config_bytes),
                             (manifest_digest, manifest_bytes)):
            put("blobs/sha256/" + digest.split(":", 1)[1], data)
    tmp.rename(out)
    return out
