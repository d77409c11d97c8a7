"""A VM disk released to a real registry as an OCI artifact of its own, without booting anything: a
small disk (the vmroot builder on a fake root: ext4 → qcow2 with qemu-img, a few MB) built,
released with `doit`, its manifest fetched by digest with Calvin's media types; then a machine that
holds nothing decides from the registry alone that nothing is to be built, tested or released, and
restores the disk — only when a child needs it."""
from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from calvin_tasks.engine import Engine
from calvin_tasks.packages.artifact import has_blob, mount_blob
from calvin_tasks.project import load_project
from calvin_tasks.registry import Registry
from calvin_tasks.store import ensure_local, store_for
from calvin_tasks.vm.artifact import CONFIG_TYPE, LAYER_TYPES, push_disk
from calvin_tasks.vm.disk import KERNEL_ARGS
from calvin_tasks.vm.image import LABEL_BLOBS, unpack
from helpers import RegistryProcess, make_project, remove_namespace, run_doit

TOOLS = ("mkfs.ext4", "qemu-img", "tar")
pytestmark = [pytest.mark.engine,
              pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason=f"needs {', '.join(TOOLS)}")]

OCI = "application/vnd.oci.image.manifest.v1+json"
MAKE_ROOT = """#!/bin/sh
# a root file system that is not bootable, only shaped like one: a kernel and an initrd in /boot
set -eu
root=$(mktemp -d)
mkdir -p "$root/boot" "$root/etc"
echo "not a kernel" > "$root/boot/vmlinuz-6.1.0-fake"
echo "not an initrd" > "$root/boot/initrd.img-6.1.0-fake"
head -c 3000000 /dev/urandom > "$root/etc/noise"   # does not compress: the qcow2 is a few MB
tar -C "$root" -cf "$CALVIN_ROOTFS" .
rm -rf "$root"
"""
CHILD_TEMPLATE = {"variables": {"base_image": ""},
                  "builders": [{"type": "qemu", "iso_url": "{{user `base_image`}}", "disk_image": True,
                                "format": "qcow2"}]}


def _project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project", {
        "resources/vm-small/resource.yaml": "description: a small fake disk\ngroup: base\nversion: 1.0.0\n"
                                            "tests: none\nbuild:\n  builder: vmroot\n"
                                            "  command: [sh, make-root.sh]\n  size: 12M\n",
        "resources/vm-small/make-root.sh": MAKE_ROOT,
        "resources/vm-small/overlay/etc/hostname": "vm-small\n",
        "resources/vm-child/resource.yaml": "description: a child\ngroup: build\nversion: 1.0.0\nbase: vm-small\n"
                                            "tests: none\nbuild:\n  builder: packer\n",
        "resources/vm-child/template.json": json.dumps(CHILD_TEMPLATE),
    })


def _get(registry: RegistryProcess, path: str, accept: str = OCI) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(f"{registry.url}{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request) as answer:
        return dict(answer.headers), answer.read()


def _blobs(manifest: dict[str, Any]) -> list[str]:
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_vm_disk_is_released_as_an_artifact_and_judged_from_the_registry(
        tmp_path: Path, namespace: str, registry: RegistryProcess, docker_client: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    env = {"CALVIN_REGISTRY": registry.address}
    released = run_doit(root, "release:vm-small", namespace=namespace, env=env)
    output = released.stdout + released.stderr
    assert released.returncode == 0, output[-4000:]
    pushed = (root / "out" / "logs" / "vm-small" / "release.log").read_text()
    assert "disk.qcow2: uploading" in pushed and "pushed the VM disk artifact" in pushed, pushed
    project = load_project(root)
    fingerprint = project.fingerprints["vm-small"]
    repository = f"{namespace}/vm-small"
    built = docker_client.images.get(f"{repository}:{fingerprint.content_tag}")
    original = unpack(Engine(), built.id, tmp_path / "original", {"calvin.namespace": namespace})

    # the manifest by tag and by digest: Calvin's media types, the disk's files, a config to judge by
    headers, by_tag = _get(registry, f"/v2/{repository}/manifests/1.0.0")
    digest = headers["Docker-Content-Digest"]
    assert _digest(by_tag) == digest
    headers, body = _get(registry, f"/v2/{repository}/manifests/{digest}")
    assert body == by_tag and headers["Content-Type"] == OCI
    manifest = json.loads(body)
    assert manifest["mediaType"] == OCI and manifest["config"]["mediaType"] == CONFIG_TYPE
    layers = {layer["annotations"]["org.opencontainers.image.title"]: layer for layer in manifest["layers"]}
    assert {name: layer["mediaType"] for name, layer in layers.items()} == LAYER_TYPES
    for name, layer in layers.items():
        data = (original.folder / name).read_bytes()
        assert layer["digest"] == _digest(data) and layer["size"] == len(data)
    assert 1_000_000 < layers["disk.qcow2"]["size"] < 8_000_000
    config = json.loads(_get(registry, f"/v2/{repository}/blobs/{manifest['config']['digest']}")[1])
    assert config["kind"] == "vm" and config["version"] == "1.0.0"
    assert config["fingerprints"]["build"] == fingerprint.build
    assert config["boot"] == {"kernel": "vmlinuz", "initrd": "initrd.img", "append": KERNEL_ARGS,
                              "kernel_release": "vmlinuz-6.1.0-fake"}
    assert config["labels"] == built.labels and config["labels"]["calvin.kind"] == "vm"
    # the version tag, the content tag and the tested mark name the one artifact
    tags = json.loads(_get(registry, f"/v2/{repository}/tags/list", "application/json")[1])["tags"]
    marks = [t for t in tags if t.startswith("t-")]
    assert "1.0.0" in tags and fingerprint.content_tag in tags and len(marks) == 1
    for tag in (fingerprint.content_tag, marks[0]):
        assert _get(registry, f"/v2/{repository}/manifests/{tag}")[0]["Docker-Content-Digest"] == digest
    # a push to another repository mounts what the source repository holds (as a child's push mounts
    # its parent's kernel and initrd), sending nothing — and gives the same digest: the artifact is a
    # function of the disk and its labels
    client, kernel = Registry(registry.address), layers["vmlinuz"]["digest"]
    assert not mount_blob(client, f"{namespace}/vm-copy", kernel, f"{namespace}/vm-none")
    said: list[str] = []
    copied = push_disk(client, Engine(), f"{namespace}/vm-copy", built.id, ["copy"], cache=tmp_path / "disks",
                       labels={"calvin.namespace": namespace}, output=said.append, sources=[repository])
    assert copied == digest and all(has_blob(client, f"{namespace}/vm-copy", d) for d in _blobs(manifest))
    assert [line.split(":")[0] for line in said if "mounted from" in line] == ["disk.qcow2", "vmlinuz",
                                                                              "initrd.img"], said

    # a machine that holds nothing: no images, no records — the registry says what is done
    remove_namespace(docker_client, namespace)
    fresh = {**env, "CALVIN_OUTPUT": str(tmp_path / "fresh-out")}
    planned = run_doit(root, "plan", namespace=namespace, env=fresh)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    lines = {line.split()[0]: line for line in planned.stdout.splitlines()
             if line.split() and line.split()[0].startswith(("build:", "test:", "release:"))}
    for step in ("build:vm-small", "test:vm-small", "release:vm-small"):
        assert "up to date" in lines[step], planned.stdout
    assert "will run" in lines["build:vm-child"], planned.stdout
    again = run_doit(root, "release:vm-small", namespace=namespace, env=fresh)
    assert again.returncode == 0 and "built 0, tested 0, released 0; 3 up to date" in again.stdout, again.stdout
    assert not docker_client.images.list(name=repository), "a released disk was downloaded without a need"

    # the child's build asks for its parent's disk (run.local_image): restored from the artifact
    for key, value in {**fresh, "CALVIN_NAMESPACE": namespace}.items():
        monkeypatch.setenv(key, value)
    project = load_project(root)
    engine = Engine()
    lines_said: list[str] = []
    image = ensure_local(project, engine, store_for(project, engine), "vm-small", lines_said.append)
    assert any("downloading" in line for line in lines_said), lines_said
    restored = docker_client.images.get(image)
    assert restored.labels == built.labels and json.loads(restored.labels[LABEL_BLOBS]) == {
        name: layer["digest"] for name, layer in layers.items()}
    disk = unpack(engine, image, tmp_path / "restored", {"calvin.namespace": namespace})
    for name in layers:
        assert (disk.folder / name).read_bytes() == (original.folder / name).read_bytes()
    assert disk.meta() == original.meta()


def test_a_vm_disk_goes_both_ways_with_the_registry_login(tmp_path: Path, namespace: str, docker_client: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    from helpers import Credentials, registry_installed, start_registry

    if not registry_installed():
        pytest.skip("docker-registry (Debian's Docker Distribution) is not installed: `make registry`")
    server = start_registry(tmp_path / "registry", credentials=Credentials("calvin", "vm-test-password"))
    try:
        docker = tmp_path / "docker"
        docker.mkdir()
        token = base64.b64encode(b"calvin:vm-test-password").decode()
        (docker / "config.json").write_text(json.dumps({"auths": {server.address: {"auth": token}}}))
        root = _project(tmp_path)
        env = {"CALVIN_REGISTRY": server.address, "DOCKER_CONFIG": str(docker)}
        released = run_doit(root, "release:vm-small", namespace=namespace, env=env)
        assert released.returncode == 0, (released.stdout + released.stderr)[-4000:]
        content = load_project(root).fingerprints["vm-small"].content_tag
        built = docker_client.images.get(f"{namespace}/vm-small:{content}")
        remove_namespace(docker_client, namespace)
        for key, value in {**env, "CALVIN_NAMESPACE": namespace, "CALVIN_OUTPUT": str(tmp_path / "fresh")}.items():
            monkeypatch.setenv(key, value)
        project = load_project(root)
        engine = Engine()
        image = ensure_local(project, engine, store_for(project, engine), "vm-small", lambda line: None)
        assert docker_client.images.get(image).labels == built.labels
        # without the login (an empty docker config): refused, and said so
        planned = run_doit(root, "plan", namespace=namespace, env={**env, "DOCKER_CONFIG": str(tmp_path)})
        assert planned.returncode != 0 and f"the registry at {server.address} needs a login" in \
            planned.stdout + planned.stderr, planned.stdout + planned.stderr
    finally:
        server.stop()


def test_a_disk_released_as_an_image_before_artifacts_is_still_a_parent(
        tmp_path: Path, namespace: str, registry: RegistryProcess, docker_client: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry holding a VM release of the earlier scheme (the container disk pushed as an image)."""
    root = _project(tmp_path)
    built = run_doit(root, "build:vm-small", namespace=namespace)
    assert built.returncode == 0, built.stdout + built.stderr
    content = load_project(root).fingerprints["vm-small"].content_tag
    image = docker_client.images.get(f"{namespace}/vm-small:{content}")
    remote = f"{registry.address}/{namespace}/vm-small"
    image.tag(remote, content)
    docker_client.images.push(remote, content)
    remove_namespace(docker_client, namespace)
    for key, value in {"CALVIN_REGISTRY": registry.address, "CALVIN_NAMESPACE": namespace,
                       "CALVIN_OUTPUT": str(tmp_path / "fresh")}.items():
        monkeypatch.setenv(key, value)
    project = load_project(root)
    engine = Engine()
    pulled = ensure_local(project, engine, store_for(project, engine), "vm-small", lambda line: None)
    assert docker_client.images.get(pulled).labels == image.labels
