"""A root image assembled by Calvin, not by `docker import`: the root file-system tarball as its one
layer, and a config Calvin writes with a fixed `created` (SOURCE_DATE_EPOCH), loaded as an image
archive. The image id is the digest of that config, so the same tarball and settings give the same
id on every engine — `docker import` stamps the time of the import instead."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from .model import TIMESTAMP

CHUNK = 1 << 20


def created_at(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime(TIMESTAMP)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def image_config(layer_digest: str, epoch: int, image: Mapping[str, Any], labels: Mapping[str, str],
                 arch: str = "amd64") -> bytes:
    """The image config (OCI/Docker image spec) for one layer; keys sorted, so bytes are stable."""
    config: dict[str, Any] = {"Labels": dict(sorted(labels.items()))}
    env = dict(image.get("env") or {})
    if env:
        config["Env"] = [f"{key}={value}" for key, value in sorted(env.items())]
    for key, field in (("entrypoint", "Entrypoint"), ("cmd", "Cmd"), ("user", "User"), ("workdir", "WorkingDir")):
        if key in image:
            config[field] = image[key]
    created = created_at(epoch)
    document = {"architecture": arch, "os": "linux", "created": created, "config": config,
                "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
                "history": [{"created": created, "created_by": "calvin rootfs"}]}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def write_archive(tarball: Path, archive: Path, reference: str, epoch: int, image: Mapping[str, Any],
                  labels: Mapping[str, str]) -> str:
    """Write a `docker load` archive of the tarball; returns the image id it will have."""
    config = image_config(_sha256(tarball), epoch, image, labels)
    image_id = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{image_id}.json", "RepoTags": [reference],
                            "Layers": ["layer.tar"]}]).encode()
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as out:
        for name, data in ((f"{image_id}.json", config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), epoch
            out.addfile(info, io.BytesIO(data))
        out.add(tarball, arcname="layer.tar", recursive=False)
    return f"sha256:{image_id}"
