"""A VM disk kept as an image ("container disk"): the disk folder's files under /disk/ of a
FROM-scratch image labelled like every Calvin image (fingerprint, parent, version) and
`calvin.kind=vm`, and `calvin.vm.blobs` (the digests of its three files). The engine and a local
release store hold, tag and judge a VM resource by digest exactly as a container resource; a
registry holds it as an OCI artifact of its own (artifact.py converts at that boundary). A disk
is taken out of its image (once per image, into <output>/disks/<image id>/) only to boot it, to
build a child on it or to push it.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Mapping

from ..engine import Engine
from ..errors import StepFailed
from .disk import DISK, INITRD, KERNEL, META, Disk

LABEL_KIND = "calvin.kind"
LABEL_BLOBS = "calvin.vm.blobs"
DISK_DIR = "disk"
FILES = (DISK, KERNEL, INITRD, META)


def pack(engine: Engine, disk: Disk, *, repository: str, tag: str, labels: Mapping[str, str],
         output: Callable[[str], None], blobs: bool = True) -> str:
    """Import the disk folder as an image; returns the image id."""
    with tempfile.TemporaryDirectory(prefix="calvin-pack-", dir=disk.folder.parent) as tmp:
        tarball = Path(tmp) / "disk.tar"
        with tarfile.open(tarball, "w") as tar:
            for name in FILES:
                info = tar.gettarinfo(str(disk.folder / name), arcname=f"{DISK_DIR}/{name}")
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = 0
                with open(disk.folder / name, "rb") as data:
                    tar.addfile(info, data)
        output(f"keeping the disk ({disk.size() / 1e6:.0f} MB) as {repository}:{tag}")
        changes = [f'LABEL "{key}"="{_escaped(value)}"' for key, value in sorted(labels.items())]
        changes.append(f'LABEL "{LABEL_KIND}"="vm"')
        if blobs:
            digests = {name: file_digest(disk.folder / name) for name in (DISK, KERNEL, INITRD)}
            changes.append(f'LABEL "{LABEL_BLOBS}"="{_escaped(json.dumps(digests, sort_keys=True))}"')
        return engine.import_rootfs(tarball=str(tarball), repository=repository, tag=tag, changes=changes)


def file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def _escaped(value: str) -> str:
    return " ".join(value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").splitlines())


def unpack(engine: Engine, image: str, cache: Path, labels: Mapping[str, str]) -> Disk:
    """The disk of `image` in `cache`/<image id>/, taken out of the image on first use."""
    short = image.split(":", 1)[-1][:24]
    folder = cache / short
    disk = Disk(folder)
    if disk.complete():
        return disk
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=cache) as tmp:
        stream = Path(tmp) / "disk.tar"
        with open(stream, "wb") as out:
            engine.export_path(image=image, path=f"/{DISK_DIR}", labels=labels, destination=out)
        with tarfile.open(stream) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).name in FILES]
            if {Path(m.name).name for m in members} != set(FILES):
                raise StepFailed(f"image {short} holds no complete VM disk under /{DISK_DIR}")
            for member in members:
                source = tar.extractfile(member)
                assert source is not None
                with source, open(Path(tmp) / Path(member.name).name, "wb") as target:
                    shutil.copyfileobj(source, target, 1024 * 1024)
        stream.unlink()
        if folder.exists():
            shutil.rmtree(folder)
        Path(tmp).rename(folder)
        Path(tmp).mkdir()  # TemporaryDirectory removes what it made
    return disk
