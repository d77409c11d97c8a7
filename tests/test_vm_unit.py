"""VM resources without booting anything: what the fingerprint covers, the rules, the template contract."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from calvin_tasks.errors import InputError
from calvin_tasks.project import load_project
from calvin_tasks.vm import machine
from calvin_tasks.vm.template import check_template
from helpers import make_project

TEMPLATE = {"variables": {"base_image": ""},
            "builders": [{"type": "qemu", "iso_url": "{{user `base_image`}}", "disk_image": True,
                          "format": "qcow2"}],
            "provisioners": [{"type": "shell", "script": "provision.sh"}]}


def _files(**changes: str) -> dict[str, str]:
    files = {
        "resources/root/resource.yaml": "description: a VM root\ngroup: base\nversion: 1.0.0\ntests: none\n"
                                        "build:\n  builder: vmroot\n  command: [mmdebstrap, '{rootfs}']\n",
        "resources/root/overlay/etc/hostname": "vm\n",
        "resources/child/resource.yaml": "description: a VM child\ngroup: build\nversion: 1.0.0\nbase: root\n"
                                         "tests: none\nbuild:\n  builder: packer\n",
        "resources/child/template.json": json.dumps(TEMPLATE),
        "resources/child/provision.sh": "#!/bin/sh\necho one\n",
    }
    files.update({k.replace("__", "/"): v for k, v in changes.items()})
    return files


def _tags(tmp_path: Path, name: str, **changes: str) -> dict[str, str]:
    root = make_project(tmp_path / name, _files(**changes))
    project = load_project(root)
    assert project.resources["child"].kind == "vm" and project.resources["root"].kind == "vm"
    return {n: project.fingerprints[n].content_tag for n in ("root", "child")}


def test_the_fingerprint_covers_template_provisioning_variables_and_parent(tmp_path: Path) -> None:
    first = _tags(tmp_path, "first")
    assert _tags(tmp_path, "same") == first
    provisioning = _tags(tmp_path, "provisioning", resources__child__provision__sh="#!/bin/sh\necho two\n")
    assert provisioning["child"] != first["child"] and provisioning["root"] == first["root"]
    template = dict(TEMPLATE, provisioners=[{"type": "shell", "inline": ["true"]}])
    assert _tags(tmp_path, "template", resources__child__template__json=json.dumps(template))["child"] != first["child"]
    variables = _tags(tmp_path, "variables", resources__child__resource__yaml=(
        "description: a VM child\ngroup: build\nversion: 1.0.0\nbase: root\ntests: none\n"
        "build:\n  builder: packer\n  variables: {hostname: ci-7}\n"))
    assert variables["child"] != first["child"]
    parent = _tags(tmp_path, "parent", resources__root__overlay__etc__hostname="other\n")
    assert parent["root"] != first["root"] and parent["child"] != first["child"]


def test_a_container_resource_cannot_ask_for_vm_facts(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {
        "resources/app/resource.yaml": "description: app\ngroup: base\nversion: 1.0.0\n",
        "resources/app/Dockerfile": "FROM scratch\n",
        "resources/app/tests.yaml": "metadata:\n  user: root\n  units: [ssh.service]\n",
    })
    with pytest.raises(InputError) as raised:
        load_project(root)
    assert "resources/app/tests.yaml:3" in str(raised.value) and "metadata units describes a VM" in str(raised.value)


def test_a_vm_resource_cannot_ask_for_image_metadata(tmp_path: Path) -> None:
    files = _files()
    files["resources/child/tests.yaml"] = "commands:\n  - {name: x, run: [\"true\"]}\nmetadata:\n  cmd: [sh]\n"
    files["resources/child/resource.yaml"] = files["resources/child/resource.yaml"].replace("tests: none\n", "")
    with pytest.raises(InputError) as raised:
        load_project(make_project(tmp_path / "p", files))
    assert "resources/child/tests.yaml:4" in str(raised.value) and "describes a container image" in str(raised.value)


def test_a_packer_resource_needs_a_base_and_a_vmroot_none(tmp_path: Path) -> None:
    files = _files()
    files["resources/child/resource.yaml"] = files["resources/child/resource.yaml"].replace("base: root\n", "")
    files["resources/root/resource.yaml"] += "base: child\n"
    with pytest.raises(InputError) as raised:
        load_project(make_project(tmp_path / "p", files))
    text = str(raised.value)
    assert "a packer resource builds on its parent's disk: it needs a base" in text
    assert "a vmroot resource is a root: it cannot have a base" in text


def test_the_template_must_start_from_the_parent_disk() -> None:
    text = json.dumps(TEMPLATE, indent=2)
    assert check_template(json.loads(text), text, "t.json", "child") == []
    no_disk_image = dict(TEMPLATE, builders=[{"type": "qemu", "iso_url": "{{user `base_image`}}"}])
    problems = check_template(no_disk_image, json.dumps(no_disk_image, indent=2), "t.json", "child")
    assert [p.message for p in problems] == ['the qemu builder must set "disk_image": true to start from base_image']
    raw = dict(TEMPLATE, builders=[dict(TEMPLATE["builders"][0], format="raw")])  # type: ignore[call-overload]
    assert "not a qcow2 disk" in check_template(raw, json.dumps(raw), "t.json", "child")[0].message


def test_the_accelerator_can_be_chosen_without_a_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    machine.accelerator.cache_clear()
    monkeypatch.setenv("CALVIN_VM_ACCEL", "tcg")
    assert machine.accelerator(Path("/nonexistent/vmlinuz")) == "tcg"
    machine.accelerator.cache_clear()


def test_the_accelerator_is_probed_once_per_kernel_and_host_boot(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[Path] = []
    monkeypatch.delenv("CALVIN_VM_ACCEL", raising=False)
    monkeypatch.setattr(machine, "VERDICTS", tmp_path / "verdicts")
    monkeypatch.setattr("calvin_tasks.vm.machine.os.access", lambda path, mode: True)

    def probe(kernel: Path) -> str:
        probes.append(kernel)
        return "tcg"

    monkeypatch.setattr(machine, "_probe", probe)
    for name in ("out/disks/a/vmlinuz", "work/parent/vmlinuz", "other/vmlinuz"):
        (tmp_path / name).parent.mkdir(parents=True)
        (tmp_path / name).write_bytes(b"another kernel" if name.startswith("other") else b"a kernel")
    machine.accelerator.cache_clear()
    try:
        # the same kernel in another folder (the packer build's copy of the parent's), and in another
        # process (the in-process cache cleared): the recorded verdict, no second probe
        assert machine.accelerator(tmp_path / "out/disks/a/vmlinuz") == "tcg"
        machine.accelerator.cache_clear()
        assert machine.accelerator(tmp_path / "work/parent/vmlinuz") == "tcg"
        assert probes == [tmp_path / "out/disks/a/vmlinuz"]
        assert machine.accelerator(tmp_path / "other/vmlinuz") == "tcg" and len(probes) == 2
        assert sorted(p.read_text() for p in (tmp_path / "verdicts").iterdir()) == ["tcg\n", "tcg\n"]
    finally:
        machine.accelerator.cache_clear()


def test_ssh_command_words_are_quoted_for_the_guest_shell() -> None:
    assert machine._quote("it's $HOME") == "'it'\"'\"'s $HOME'"
