"""A VM disk in the registry: an OCI artifact of its own, not an image.

    manifest  application/vnd.oci.image.manifest.v1+json
    config    application/vnd.calvin.vm.config.v1+json   kind, resource, version, fingerprints, boot
                                                          (kernel, initrd, append), disk.json, labels
    layers    application/vnd.calvin.vm.disk.qcow2        disk.qcow2
              application/vnd.calvin.vm.kernel            vmlinuz
              application/vnd.calvin.vm.initrd            initrd.img

Locally a disk stays a container disk (image.py); the conversion happens here, at the registry
boundary. The artifact is a function of the disk's files and the image's labels only, so pushing
the same disk again gives the same manifest digest, and a disk restored from the registry pushes
back to the very digest it came from. Which disk an image holds is its `calvin.vm.blobs` label
(the three files' digests, set when the disk was packed): a tag that already names an artifact of
those blobs is re-pointed with that manifest (no blob is sent, nothing taken out of the engine), and
a blob the parent's repository holds is mounted, not sent.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..engine import Engine
from ..errors import RegistryUnavailable, StepFailed
from ..files import write_atomic
from ..model import LABEL_FINGERPRINT, LABEL_PARENT, LABEL_RESOURCE, content_tag
from ..packages.artifact import OCI_MANIFEST, get_blob, has_blob, mount_blob, put_blob, put_manifest
from ..registry import Registry
from .disk import DISK, INITRD, KERNEL, KERNEL_ARGS, META, Disk
from .image import LABEL_BLOBS, LABEL_KIND, file_digest, pack, unpack

CONFIG_TYPE = "application/vnd.calvin.vm.config.v1+json"
LAYER_TYPES = {DISK: "application/vnd.calvin.vm.disk.qcow2", KERNEL: "application/vnd.calvin.vm.kernel",
               INITRD: "application/vnd.calvin.vm.initrd"}
TITLE = "org.opencontainers.image.title"
VERSION = "org.opencontainers.image.version"
Output = Callable[[str], None]


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def vm_config(labels: Mapping[str, str], meta: Mapping[str, object]) -> bytes:
    """The artifact's config: what a machine needs to judge (fingerprints, labels) and to boot it."""
    return _canonical({
        "kind": "vm", "resource": labels.get(LABEL_RESOURCE, ""), "version": labels.get(VERSION, ""),
        "fingerprints": {"build": labels.get(LABEL_FINGERPRINT, ""), "parent": labels.get(LABEL_PARENT, "")},
        "boot": {"kernel": KERNEL, "initrd": INITRD, "append": str(meta.get("cmdline") or KERNEL_ARGS),
                 "kernel_release": str(meta.get("kernel") or "")},
        "disk": {"file": DISK, "format": "qcow2"},
        "meta": dict(meta), "labels": dict(labels),
    })


def vm_manifest(config: bytes, layers: Mapping[str, tuple[str, int]]) -> bytes:
    """The OCI manifest of a config and the disk's three files ({file name: (digest, size)})."""
    labels = json.loads(config)["labels"]
    return _canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": _sha256(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPES[name], "digest": layers[name][0], "size": layers[name][1],
                    "annotations": {TITLE: name}} for name in (DISK, KERNEL, INITRD)],
        "annotations": {TITLE: labels.get(LABEL_RESOURCE, ""), VERSION: labels.get(VERSION, ""),
                        LABEL_KIND: "vm"},
    })


def read_manifest(body: bytes, where: str) -> tuple[str, dict[str, str]]:
    """(config digest, {file name: digest}) of a VM artifact's manifest; anything else is refused."""
    try:
        manifest = json.loads(body)
        config = manifest["config"]
        layers = {layer["annotations"][TITLE]: layer for layer in manifest["layers"]}
    except (ValueError, KeyError, TypeError):
        raise StepFailed(f"{where} is not a VM disk artifact (unreadable manifest)") from None
    if manifest.get("mediaType") != OCI_MANIFEST or config.get("mediaType") != CONFIG_TYPE:
        raise StepFailed(f"{where} is not a VM disk artifact ({manifest.get('mediaType')}, config "
                         f"{config.get('mediaType')}): was it pushed as an image?")
    wrong = [name for name, kind in LAYER_TYPES.items() if (layers.get(name) or {}).get("mediaType") != kind]
    if wrong or len(layers) != len(LAYER_TYPES):
        raise StepFailed(f"{where} lacks the VM disk layers {', '.join(wrong) or sorted(layers)}")
    return str(config["digest"]), {name: str(layer["digest"]) for name, layer in layers.items()}


def blobs_of(labels: Mapping[str, str]) -> dict[str, str]:
    """The disk files' digests an image (or an artifact's config) names in its labels."""
    try:
        found = json.loads(labels.get(LABEL_BLOBS) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def push_disk(registry: Registry, engine: Engine, repository: str, image: str, tags: list[str], *,
              cache: Path, labels: Mapping[str, str], output: Output, sources: Sequence[str] = ()) -> str:
    """Push the disk of `image` as repository:<each tag>; read back by digest; returns the digest. A
    blob the registry has in `sources` (the parent's repository) is mounted, not sent again."""
    info = engine.inspect(image)
    if info is None:
        raise StepFailed(f"image {image[:19]} is not in the engine")
    body = _known(registry, repository, info.labels)
    if body is None:
        disk = unpack(engine, image, cache, labels)
        layers = {name: (file_digest(disk.folder / name), (disk.folder / name).stat().st_size)
                  for name in (DISK, KERNEL, INITRD)}
        claimed = blobs_of(info.labels)
        if claimed and claimed != {name: digest for name, (digest, _) in layers.items()}:
            raise StepFailed(f"the disk taken out of {image[:19]} ({disk.folder}) is not the one its image "
                             "was packed with: remove that folder and run again")
        for name, (digest, size) in layers.items():
            if has_blob(registry, repository, digest):
                output(f"{name}: the registry has it ({digest[:19]})")
                continue
            mounted = next((source for source in sources if mount_blob(registry, repository, digest, source)), None)
            if mounted is not None:
                output(f"{name}: mounted from {mounted} ({digest[:19]})")
                continue
            output(f"{name}: uploading {size / 1e6:.1f} MB ({digest[:19]})")
            with open(disk.folder / name, "rb") as data:
                put_blob(registry, repository, digest, data, size)
        config = vm_config(info.labels, disk.meta())
        if not has_blob(registry, repository, _sha256(config)):
            put_blob(registry, repository, _sha256(config), config, len(config))
        body = vm_manifest(config, layers)
    digest = _sha256(body)
    for tag in tags:
        if put_manifest(registry, repository, tag, body) != digest:
            raise StepFailed(f"{repository}:{tag} was stored with another digest than {digest}")
        registry.forget(repository, tag)
    back = registry.manifest(repository, digest)
    if back is None or back[0] != digest or _sha256(back[1]) != digest:
        raise StepFailed(f"{registry.address}/{repository}@{digest} does not read back as pushed")
    read_manifest(back[1], f"{repository}@{digest[:19]}")
    output(f"pushed the VM disk artifact {registry.address}/{repository}@{digest[:19]} as {', '.join(tags)}")
    return digest


def _known(registry: Registry, repository: str, labels: Mapping[str, str]) -> bytes | None:
    """The manifest of the artifact already holding this disk (under its content tag), if any."""
    blobs, fingerprint = blobs_of(labels), labels.get(LABEL_FINGERPRINT)
    if not fingerprint:
        return None
    found = registry.manifest(repository, content_tag(fingerprint))
    if found is None or not is_vm_artifact(found[1]):
        return None
    config, layers = read_manifest(found[1], f"{repository}:{content_tag(fingerprint)}")
    remote = json.loads(registry.blob(repository, config)).get("labels") or {}
    return found[1] if dict(remote) == dict(labels) and layers == (blobs or layers) else None


def vm_image(engine: Engine, repository: str, labels: Mapping[str, str]) -> str | None:
    """The id of the engine's image holding the disk an artifact's config describes (its content tag,
    the same labels and blobs), if the engine has it: what the release rules compare with."""
    fingerprint = labels.get(LABEL_FINGERPRINT)
    info = engine.find(f"{repository}:{content_tag(fingerprint)}") if fingerprint else None
    return info.id if info is not None and dict(info.labels) == dict(labels) else None


def is_vm_artifact(body: bytes) -> bool:
    try:
        return bool(json.loads(body)["config"]["mediaType"] == CONFIG_TYPE)
    except (ValueError, KeyError, TypeError):
        return False


def pull_disk(registry: Registry, engine: Engine, repository: str, tag: str, *, cache: Path,
              output: Output) -> str | None:
    """Download repository:tag's disk and keep it as a container disk tagged repository:tag; returns
    the image id (its disk is left in `cache`/<image id>/, where booting and building look first).
    None when the tag holds an image (a disk released before Calvin pushed artifacts): pull that."""
    found = registry.manifest(repository, tag)
    if found is None:
        raise StepFailed(f"{registry.address}/{repository}:{tag} is not in the registry")
    if not is_vm_artifact(found[1]):
        return None
    config_digest, layers = read_manifest(found[1], f"{repository}:{tag}")
    config = json.loads(registry.blob(repository, config_digest))
    labels = {str(k): str(v) for k, v in (config.get("labels") or {}).items()}
    if blobs_of(labels) and blobs_of(labels) != layers:
        raise RegistryUnavailable(f"{repository}:{tag}: the config names other disk files than the manifest")
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pull-", dir=cache))
    try:
        for name, digest in layers.items():
            output(f"{name}: downloading {digest[:19]}")
            with open(work / name, "wb") as target:
                get_blob(registry, repository, digest, target)
        write_atomic(work / META, json.dumps(config.get("meta") or {}, indent=2) + "\n")
        own = {k: v for k, v in labels.items() if k not in (LABEL_KIND, LABEL_BLOBS)}
        image = pack(engine, Disk(work), repository=repository, tag=tag, labels=own, output=output,
                     blobs=LABEL_BLOBS in labels)  # (a disk packed before Calvin labelled blobs: as it was)
        folder = cache / image.split(":", 1)[-1][:24]
        if not Disk(folder).complete():
            shutil.rmtree(folder, ignore_errors=True)
            work.rename(folder)
        return image
    finally:
        shutil.rmtree(work, ignore_errors=True)
