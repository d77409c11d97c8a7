"""The VM builders, behind build.py's Builder protocol:

    vmroot  a root file system command (as `rootfs`: it writes a tarball to {rootfs}) made into a
            bootable disk (disk.py)
    packer  a Packer JSON template run on the parent's disk (the `base_image` variable), with an SSH
            key made for this build only: QEMU passes its public half in through fw_cfg, so it is
            never written into the disk

Either way the disk is kept as an image (image.py) tagged like any Calvin image.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..engine import Engine
from ..errors import StepFailed
from .disk import DEFAULT_SIZE, FW_CFG_KEY, INITRD, KERNEL, KERNEL_ARGS, Disk, disk_from_tarball, write_meta
from .image import pack, unpack
from .machine import accelerator
from .template import CALVIN_VARIABLES

if TYPE_CHECKING:
    from ..build import BuildJob

ROOTFS_PLACEHOLDER = "{rootfs}"
WORK = Path(os.environ.get("CALVIN_VM_WORK", "/var/tmp"))  # disks are large: not in a tmpfs /tmp


def stream(command: list[str], *, cwd: Path, env: dict[str, str], output: Callable[[str], None], what: str) -> None:
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, errors="replace")
    except FileNotFoundError:
        raise StepFailed(f"{what}: '{command[0]}' is not installed on this machine (make tools)") from None
    assert process.stdout is not None
    try:
        for line in process.stdout:
            output(line.rstrip("\n"))
    except BaseException:  # Ctrl-C: the tool (and the VM packer runs) stops with the step
        process.kill()
        process.wait()
        raise
    if process.wait() != 0:
        raise StepFailed(f"{what} exited with status {process.returncode}: {' '.join(command)}")


class VmRootBuilder:
    def build(self, engine: Engine, job: BuildJob) -> str:
        resource = job.resource
        with tempfile.TemporaryDirectory(prefix=f"calvin-{resource.name}-", dir=WORK) as tmp:
            tarball = Path(tmp) / "rootfs.tar"
            command = [part.replace(ROOTFS_PLACEHOLDER, str(tarball)) for part in resource.build.command]
            stream(command, cwd=resource.folder, env=dict(os.environ, CALVIN_ROOTFS=str(tarball)),
                   output=job.output, what="the root file system command")
            if not tarball.is_file():
                raise StepFailed("the root file system command exited 0 but wrote no tarball at $CALVIN_ROOTFS")
            disk = disk_from_tarball(tarball, Path(tmp) / "disk", job.labels, job.output,
                                     size=resource.build.size or DEFAULT_SIZE)
            job.output(f"disk {disk.image.stat().st_size / 1e6:.0f} MB (qcow2), kernel {disk.meta().get('kernel')}")
            return pack(engine, disk, repository=job.repository, tag=job.tag, labels=job.labels, output=job.output)


class PackerBuilder:
    def build(self, engine: Engine, job: BuildJob) -> str:
        resource = job.resource
        if job.parent_image is None:
            raise StepFailed(f"'{resource.name}' (packer) needs its parent's disk: set `base:` to a VM resource")
        with tempfile.TemporaryDirectory(prefix=f"calvin-{resource.name}-", dir=WORK) as tmp:
            work = Path(tmp)
            parent = unpack(engine, job.parent_image, work / "parent", {})
            key = work / "build-key"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "calvin-build", "-f", str(key)],
                           check=True, capture_output=True)
            template = resource.folder / resource.build.template
            declared = set((json.loads(template.read_text()).get("variables") or {}))
            calvin = {"base_image": str(parent.image), "base_kernel": str(parent.kernel),
                      "base_initrd": str(parent.initrd), "kernel_args": KERNEL_ARGS,
                      "accelerator": accelerator(parent.kernel), "output_directory": str(work / "out"),
                      "ssh_private_key_file": str(key), "ssh_public_key_file": f"{key}.pub",
                      "vm_name": "disk.qcow2", "memory": "1024", "cpus": "1"}
            assert set(calvin) == set(CALVIN_VARIABLES)
            values = {**{k: v for k, v in calvin.items() if k in declared}, **dict(resource.build.variables)}
            (work / "variables.json").write_text(json.dumps(values))
            job.output(f"packer build on {parent.meta().get('kernel')} ({values.get('accelerator', 'default')}); "
                       f"key fw_cfg {FW_CFG_KEY}, made for this build only")
            env = dict(os.environ, PACKER_CACHE_DIR=str(work / "cache"), CHECKPOINT_DISABLE="1",
                       PACKER_NO_COLOR="1", TMPDIR=str(work))
            stream(["packer", "build", "-color=false", "-on-error=cleanup", f"-var-file={work / 'variables.json'}",
                    str(template)], cwd=resource.folder, env=env, output=job.output, what="packer build")
            disk = self._collect(work / "out", work / "disk", parent)
            write_meta(disk.folder, job.labels, kernel=str(parent.meta().get("kernel", "")))
            return pack(engine, disk, repository=job.repository, tag=job.tag, labels=job.labels, output=job.output)

    @staticmethod
    def _collect(out: Path, folder: Path, parent: Disk) -> Disk:
        """Packer's output disk, checked to be a qcow2 disk, beside the parent's kernel and initrd."""
        found = [p for p in out.iterdir() if p.is_file()] if out.is_dir() else []
        if len(found) != 1:
            raise StepFailed(f"packer build wrote {len(found)} files to its output directory, expected one disk")
        info = subprocess.run(["qemu-img", "info", "--output=json", str(found[0])], capture_output=True, text=True)
        disk_format = json.loads(info.stdout).get("format") if info.returncode == 0 else None
        if disk_format != "qcow2":
            raise StepFailed(f"packer build wrote {found[0].name}, which is not a qcow2 disk ({disk_format})")
        folder.mkdir()
        found[0].rename(folder / "disk.qcow2")
        for name, source in ((KERNEL, parent.kernel), (INITRD, parent.initrd)):
            (folder / name).write_bytes(source.read_bytes())
        return Disk(folder)
