"""The shape of a VM disk artifact (vm/artifact.py), without a registry: Calvin's media types, a
config to judge and boot by, and a manifest that is a function of the disk alone."""
from __future__ import annotations

import hashlib
import json

import pytest

from calvin_tasks.errors import StepFailed
from calvin_tasks.vm.artifact import (CONFIG_TYPE, LAYER_TYPES, blobs_of, is_vm_artifact, read_manifest, vm_config,
                                      vm_manifest)
from calvin_tasks.vm.disk import KERNEL_ARGS

LABELS = {"calvin.fingerprint": "f" * 64, "calvin.resource": "vm-base-linux", "calvin.parent-fingerprint": "",
          "org.opencontainers.image.version": "1.2.0", "calvin.kind": "vm",
          "calvin.vm.blobs": json.dumps({"disk.qcow2": "sha256:" + "1" * 64, "initrd.img": "sha256:" + "3" * 64,
                                         "vmlinuz": "sha256:" + "2" * 64})}
META = {"labels": {"calvin.resource": "vm-base-linux"}, "kernel": "vmlinuz-6.1.0-27-amd64", "cmdline": KERNEL_ARGS,
        "sizes": {"disk.qcow2": 250_000_000, "vmlinuz": 8_000_000, "initrd.img": 30_000_000}}
LAYERS = {"disk.qcow2": ("sha256:" + "1" * 64, 250_000_000), "vmlinuz": ("sha256:" + "2" * 64, 8_000_000),
          "initrd.img": ("sha256:" + "3" * 64, 30_000_000)}


def test_the_config_says_what_the_disk_is_and_how_it_boots() -> None:
    config = json.loads(vm_config(LABELS, META))
    assert config["kind"] == "vm" and config["resource"] == "vm-base-linux" and config["version"] == "1.2.0"
    assert config["fingerprints"] == {"build": "f" * 64, "parent": ""}
    assert config["boot"] == {"kernel": "vmlinuz", "initrd": "initrd.img", "append": KERNEL_ARGS,
                              "kernel_release": "vmlinuz-6.1.0-27-amd64"}
    assert config["disk"] == {"file": "disk.qcow2", "format": "qcow2"}
    assert config["meta"] == META and config["labels"] == LABELS
    assert blobs_of(config["labels"]) == {name: digest for name, (digest, _) in LAYERS.items()}


def test_the_manifest_is_an_oci_manifest_with_calvins_media_types() -> None:
    config = vm_config(LABELS, META)
    body = vm_manifest(config, LAYERS)
    manifest = json.loads(body)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"] == {"mediaType": "application/vnd.calvin.vm.config.v1+json",
                                  "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)}
    assert [(layer["mediaType"], layer["annotations"]["org.opencontainers.image.title"], layer["size"])
            for layer in manifest["layers"]] == [
        ("application/vnd.calvin.vm.disk.qcow2", "disk.qcow2", 250_000_000),
        ("application/vnd.calvin.vm.kernel", "vmlinuz", 8_000_000),
        ("application/vnd.calvin.vm.initrd", "initrd.img", 30_000_000)]
    assert manifest["annotations"] == {"org.opencontainers.image.title": "vm-base-linux",
                                       "org.opencontainers.image.version": "1.2.0", "calvin.kind": "vm"}
    # the same disk and labels give the same bytes, hence the same digest, wherever it is pushed from
    assert vm_manifest(vm_config(dict(reversed(list(LABELS.items()))), META), LAYERS) == body
    assert read_manifest(body, "x") == (manifest["config"]["digest"],
                                        {name: digest for name, (digest, _) in LAYERS.items()})


def test_an_image_or_a_manifest_without_the_disk_layers_is_not_a_vm_disk() -> None:
    body = json.loads(vm_manifest(vm_config(LABELS, META), LAYERS))
    image = dict(body, config=dict(body["config"], mediaType="application/vnd.oci.image.config.v1+json"))
    with pytest.raises(StepFailed, match="is not a VM disk artifact"):
        read_manifest(json.dumps(image).encode(), "ns/vm:1.0.0")
    assert not is_vm_artifact(json.dumps(image).encode()) and is_vm_artifact(json.dumps(body).encode())
    no_initrd = dict(body, layers=body["layers"][:2])
    with pytest.raises(StepFailed, match="lacks the VM disk layers initrd.img"):
        read_manifest(json.dumps(no_initrd).encode(), "ns/vm:1.0.0")
    assert set(LAYER_TYPES.values()) == {"application/vnd.calvin.vm.disk.qcow2", "application/vnd.calvin.vm.kernel",
                                         "application/vnd.calvin.vm.initrd"} and CONFIG_TYPE.endswith("v1+json")
