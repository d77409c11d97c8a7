"""VM resources end to end: the catalogue's vm-base-linux (mmdebstrap → disk) and a small Packer
child built on its disk, each smoke-tested by booting it; released to a registry and judged by
digests on a machine that holds nothing. One chain is built per module (TCG boots are slow)."""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from calvin_tasks.model import CheckSpec
from calvin_tasks.vm import machine as machine_module
from calvin_tasks.vm.disk import Disk
from calvin_tasks.vm.machine import Bounds, Machine
from calvin_tasks.vm.suite import run_vm_suite
from helpers import REPO, RegistryProcess, make_project, remove_namespace, run_doit

TOOLS = ("mmdebstrap", "mkfs.ext4", "qemu-system-x86_64", "qemu-img", "packer", "ssh", "ssh-keygen")
pytestmark = [pytest.mark.engine,
              pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                 reason=f"VM tests need {', '.join(TOOLS)} (make tools)")]

CHILD_TEMPLATE = {
    "variables": {name: "" for name in ("base_image", "base_kernel", "base_initrd", "kernel_args", "accelerator",
                                        "output_directory", "ssh_private_key_file", "ssh_public_key_file")},
    "builders": [{
        "type": "qemu", "iso_url": "{{user `base_image`}}", "iso_checksum": "none", "disk_image": True,
        "format": "qcow2", "disk_compression": True, "disk_interface": "virtio", "net_device": "virtio-net",
        "accelerator": "{{user `accelerator`}}", "memory": 1024, "headless": True, "boot_wait": "1s",
        "communicator": "ssh", "ssh_username": "root", "ssh_private_key_file": "{{user `ssh_private_key_file`}}",
        "ssh_timeout": "8m", "shutdown_command": "systemctl poweroff",
        "output_directory": "{{user `output_directory`}}", "vm_name": "disk.qcow2",
        "qemuargs": [["-kernel", "{{user `base_kernel`}}"], ["-initrd", "{{user `base_initrd`}}"],
                     ["-append", "{{user `kernel_args`}}"],
                     ["-fw_cfg", "name=opt/calvin/ssh_key,file={{user `ssh_public_key_file`}}"]]}],
    "provisioners": [{"type": "file", "source": "note.txt", "destination": "/etc/calvin-child"},
                     {"type": "shell", "script": "provision.sh"}],
}
CHILD_TESTS = """\
commands:
  - name: the provisioning script ran
    run: [cat, /etc/calvin-provisioned]
    stdout: "^provisioned by packer$"
files:
  - path: /etc/calvin-child
    contains: "^a child VM$"
  - name: the build key did not stay
    path: /root/.ssh/authorized_keys
    exists: false
metadata:
  units: [ssh.service]
services:
  - name: sshd answers
    port: 22
"""


@dataclass
class Chain:
    root: Path
    namespace: str
    built: subprocess.CompletedProcess[str]
    seconds: float


def _vm_base_files() -> dict[str, str | Path]:
    folder = REPO / "vms" / "resources" / "vm-base-linux"
    return {f"resources/vm-base-linux/{p.relative_to(folder)}": p for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[Chain]:
    namespace = f"calvin-test-{secrets.token_hex(4)}"
    root = make_project(tmp_path_factory.mktemp("vm") / "project", {
        **_vm_base_files(),
        "resources/vm-child/resource.yaml": "description: a child VM\ngroup: build\nversion: 1.0.0\n"
                                            "base: vm-base-linux\nbuild:\n  builder: packer\n",
        "resources/vm-child/template.json": json.dumps(CHILD_TEMPLATE, indent=2) + "\n",
        "resources/vm-child/note.txt": "a child VM\n",
        "resources/vm-child/provision.sh": "#!/bin/sh\nset -eu\n"
                                           "echo 'provisioned by packer' > /etc/calvin-provisioned\n"
                                           "rm -f /etc/ssh/ssh_host_*\n",
        "resources/vm-child/tests.yaml": CHILD_TESTS,
    })
    started = time.monotonic()
    built = run_doit(root, "test:vm-child", namespace=namespace, timeout=1500)
    try:
        yield Chain(root, namespace, built, time.monotonic() - started)
    finally:
        remove_namespace(docker_client, namespace)


def test_root_and_child_are_built_and_pass_their_checks_booted(chain: Chain, docker_client: Any) -> None:
    output = chain.built.stdout + chain.built.stderr
    assert chain.built.returncode == 0, output[-6000:]
    timings = [line.strip() for line in output.splitlines() if "| built " in line or "· booted in" in line]
    print(f"\nthe VM chain, cold, in {chain.seconds:.0f} s:", *timings, sep="\n  ")
    for name in ("vm-base-linux", "vm-child"):
        assert f"{name} · booted in " in output
        assert "FAILED" not in output
        image = docker_client.images.get(f"{chain.namespace}/{name}:{_content_tag(chain, name)}")
        assert image.labels["calvin.kind"] == "vm"
    assert "vm-base-linux · sshd answers on port 22 " in output
    assert "(tcg," in output or "(kvm," in output, "the accelerator used is not named"


def test_nothing_to_do_after_the_chain(chain: Chain) -> None:
    planned = run_doit(chain.root, "plan", namespace=chain.namespace)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "build:vm-child" in planned.stdout and "up to date" in planned.stdout
    assert "will run" not in "\n".join(line for line in planned.stdout.splitlines() if "build:" in line
                                       or "test:" in line)


def test_doit_list_shows_the_kind(chain: Chain) -> None:
    listed = run_doit(chain.root, "list", namespace=chain.namespace)
    assert any(line.split()[:3] == ["vm-child", "build", "vm"] for line in listed.stdout.splitlines()), listed.stdout


def _content_tag(chain: Chain, name: str) -> str:
    from calvin_tasks.project import load_project
    return load_project(chain.root).fingerprints[name].content_tag


def _root_disk(chain: Chain, docker_client: Any) -> Disk:
    from calvin_tasks.engine import Engine
    from calvin_tasks.vm.image import unpack
    image = docker_client.images.get(f"{chain.namespace}/vm-base-linux:{_content_tag(chain, 'vm-base-linux')}")
    return unpack(Engine(), image.id, chain.root / "out" / "disks", {"calvin.namespace": chain.namespace})


def test_failing_checks_fail_with_reasons_and_the_vm_is_gone(chain: Chain, docker_client: Any) -> None:
    disk = _root_disk(chain, docker_client)
    checks = (
        CheckSpec("command", "wrong output", {"run": ["echo", "hello"], "stdout": "^goodbye$"}),
        CheckSpec("command", "exits 3", {"run": ["sh", "-c", "exit 3"]}),
        CheckSpec("file", "missing", {"path": "/etc/calvin-nothing"}),
        CheckSpec("file", "mode", {"path": "/etc/hostname", "mode": "0600"}),
        CheckSpec("metadata", "metadata units", {"key": "units", "expected": ["calvin-none.service"]}),
        CheckSpec("metadata", "metadata listening", {"key": "listening", "expected": ["8080"]}),
        CheckSpec("service", "nothing on 8080", {"port": 8080, "timeout": 3}),
        CheckSpec("file", "passes", {"path": "/etc/hostname", "contains": "calvin-vm"}),
    )
    lines: list[str] = []
    results = run_vm_suite("vm-base-linux", disk, checks, lines.append, bounds=Bounds(memory_mb=512), timeout=30)
    by_name = {r.name: r for r in results}
    assert [n for n, r in by_name.items() if r.passed] == ["passes"], lines
    assert "does not match /^goodbye$/" in by_name["wrong output"].message
    assert "exit code 3" in by_name["exits 3"].message
    assert "does not exist" in by_name["missing"].message
    assert "mode 0644, expected 0600" in by_name["mode"].message
    assert "units lacks calvin-none.service (enabled: none of them)" in by_name["metadata units"].message
    assert "8080/tcp" in by_name["metadata listening"].message
    assert "not ready within 3 s on port 8080" in by_name["nothing on 8080"].message
    assert not _qemu_running(disk), "the VM outlived its suite"


def test_an_interrupted_boot_leaves_no_vm(chain: Chain, docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = _root_disk(chain, docker_client)
    seen: list[Machine] = []

    def interrupt(self: Machine, deadline: float) -> None:
        seen.append(self)
        time.sleep(2)  # QEMU is running now
        assert self._process is not None and self._process.poll() is None
        raise KeyboardInterrupt

    monkeypatch.setattr(machine_module.Machine, "_wait_for_ssh", interrupt)
    with pytest.raises(KeyboardInterrupt):
        with Machine(disk, Bounds(memory_mb=256)):
            pass
    assert seen and seen[0]._process is None and seen[0]._work is None
    assert not _qemu_running(disk)


def _qemu_running(disk: Disk) -> bool:
    found = subprocess.run(["pgrep", "-f", f"qemu-system-x86_64.*{disk.kernel}"], capture_output=True)
    return found.returncode == 0


def test_released_to_a_registry_and_a_fresh_machine_builds_nothing(chain: Chain, registry: RegistryProcess,
                                                                   docker_client: Any) -> None:
    env = {"CALVIN_REGISTRY": registry.address}
    started = time.monotonic()
    released = run_doit(chain.root, namespace=chain.namespace, env=env, timeout=900)
    assert released.returncode == 0, (released.stdout + released.stderr)[-4000:]
    print(f"release of the VM chain: {time.monotonic() - started:.1f} s")
    for name in ("vm-base-linux", "vm-child"):
        with urllib.request.urlopen(f"{registry.url}/v2/{chain.namespace}/{name}/tags/list") as answer:
            tags = json.load(answer)["tags"]
        assert "1.0.0" in tags and _content_tag(chain, name) in tags and any(t.startswith("t-") for t in tags)
        request = urllib.request.Request(f"{registry.url}/v2/{chain.namespace}/{name}/manifests/1.0.0",
                                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        with urllib.request.urlopen(request) as answer:  # a VM disk artifact, not an image
            manifest = json.load(answer)
        assert manifest["config"]["mediaType"] == "application/vnd.calvin.vm.config.v1+json"
        assert [layer["mediaType"].rsplit(".", 1)[-1] for layer in manifest["layers"]] == ["qcow2", "kernel", "initrd"]
    # the same checkout on a machine that holds nothing (no images, no records): the registry says all is done
    remove_namespace(docker_client, chain.namespace)
    planned = run_doit(chain.root, "plan", namespace=chain.namespace,
                       env={**env, "CALVIN_OUTPUT": str(chain.root / "fresh-out")})
    assert planned.returncode == 0 and "nothing to do" in planned.stdout, planned.stdout + planned.stderr
