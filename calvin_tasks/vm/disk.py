"""A bootable VM disk from a root file system: ext4 made from the tree (no loop device, no mount),
compressed qcow2, with the kernel and initrd beside it for direct kernel boot.

A disk is a folder:  disk.qcow2  vmlinuz  initrd.img  disk.json (labels, kernel command line, sizes).

Calvin adds to every root it turns into a disk exactly what booting and testing it needs, nothing
else: /etc/fstab for the root on /dev/vda, and the test-access hook — sshd asks
/usr/local/sbin/calvin-test-key for root's keys, which prints the key QEMU passes in through
fw_cfg (opt/calvin/ssh_key) when, and only when, Calvin boots the disk to build or test it.
No key is ever written into the disk.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..errors import StepFailed
from ..files import write_atomic

DISK, KERNEL, INITRD, META = "disk.qcow2", "vmlinuz", "initrd.img", "disk.json"
ROOT_DEVICE = "/dev/vda"
KERNEL_ARGS = f"root={ROOT_DEVICE} rw console=ttyS0 net.ifnames=0"
FW_CFG_KEY = "opt/calvin/ssh_key"
DEFAULT_SIZE = "2G"

KEY_HOOK = f"""#!/bin/sh
# Calvin's test access: the key QEMU passes in for one build or test boot, never stored on disk.
[ "$1" = root ] || exit 0
key=/sys/firmware/qemu_fw_cfg/by_name/{FW_CFG_KEY}/raw
modprobe -q qemu_fw_cfg 2>/dev/null
[ -r "$key" ] && cat "$key"
exit 0
"""
SSHD_SNIPPET = """# Calvin's test access (see /usr/local/sbin/calvin-test-key)
AuthorizedKeysCommand /usr/local/sbin/calvin-test-key %u
AuthorizedKeysCommandUser root
PermitRootLogin prohibit-password
PasswordAuthentication no
"""


@dataclass(frozen=True)
class Disk:
    """A built disk in its folder."""

    folder: Path

    @property
    def image(self) -> Path:
        return self.folder / DISK

    @property
    def kernel(self) -> Path:
        return self.folder / KERNEL

    @property
    def initrd(self) -> Path:
        return self.folder / INITRD

    def meta(self) -> dict[str, object]:
        try:
            data = json.loads((self.folder / META).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def labels(self) -> dict[str, str]:
        labels = self.meta().get("labels")
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    def complete(self) -> bool:
        return all(path.is_file() for path in (self.image, self.kernel, self.initrd, self.folder / META))

    def size(self) -> int:
        return sum(path.stat().st_size for path in (self.image, self.kernel, self.initrd))


def run_tool(command: list[str], output: Callable[[str], None], *, what: str, timeout: float = 3600) -> str:
    """Run a host tool; its output is passed on line by line; a failure names the tool."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise StepFailed(f"{what}: '{command[0]}' is not installed (make tools installs it)") from None
    except subprocess.TimeoutExpired:
        raise StepFailed(f"{what}: '{command[0]}' did not finish within {timeout:g} s") from None
    for line in (done.stdout + done.stderr).splitlines()[-40:]:
        output(line)
    if done.returncode != 0:
        raise StepFailed(f"{what}: {' '.join(command[:2])} … exited with status {done.returncode}")
    return done.stdout


def prepare_root(root: Path) -> None:
    """What every Calvin disk needs to boot on /dev/vda and to be reached for tests."""
    etc = root / "etc"
    (etc / "fstab").write_text(f"{ROOT_DEVICE} / ext4 errors=remount-ro 0 1\n")
    hook = root / "usr/local/sbin/calvin-test-key"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(KEY_HOOK)
    hook.chmod(0o755)
    snippet = etc / "ssh/sshd_config.d/calvin-test-access.conf"
    if (etc / "ssh").is_dir():
        snippet.parent.mkdir(parents=True, exist_ok=True)
        snippet.write_text(SSHD_SNIPPET)
    modules = etc / "modules-load.d/calvin.conf"
    modules.parent.mkdir(parents=True, exist_ok=True)
    modules.write_text("qemu_fw_cfg\n")


def _newest(boot: Path, prefix: str) -> Path:
    found = sorted(p for p in boot.glob(f"{prefix}-*") if p.is_file())
    if not found:
        raise StepFailed(f"the root file system has no /boot/{prefix}-*: install a kernel (linux-image-amd64) "
                         "and initramfs-tools in it")
    return found[-1]


def disk_from_tree(root: Path, folder: Path, labels: Mapping[str, str], output: Callable[[str], None], *,
                   size: str = DEFAULT_SIZE) -> Disk:
    """Turn the tree `root` into a disk in `folder` (replaced whole)."""
    prepare_root(root)
    kernel, initrd = _newest(root / "boot", "vmlinuz"), _newest(root / "boot", "initrd.img")
    work = Path(tempfile.mkdtemp(prefix=".calvin-disk-", dir=folder.parent))
    try:
        shutil.copyfile(kernel, work / KERNEL)
        shutil.copyfile(initrd, work / INITRD)
        raw = work / "disk.raw"
        run_tool(["mkfs.ext4", "-q", "-F", "-L", "calvin-root", "-d", str(root), str(raw), size], output,
                 what="making the ext4 file system")
        run_tool(["qemu-img", "convert", "-c", "-O", "qcow2", str(raw), str(work / DISK)], output,
                 what="compressing the disk")
        raw.unlink()
        write_meta(work, labels, kernel=kernel.name)
        if folder.exists():
            shutil.rmtree(folder)
        work.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Disk(folder)


def write_meta(folder: Path, labels: Mapping[str, str], *, kernel: str) -> None:
    sizes = {name: (folder / name).stat().st_size for name in (DISK, KERNEL, INITRD) if (folder / name).exists()}
    write_atomic(folder / META, json.dumps({"labels": dict(sorted(labels.items())), "kernel": kernel,
                                            "cmdline": KERNEL_ARGS, "sizes": sizes}, indent=2) + "\n")


def disk_from_tarball(tarball: Path, folder: Path, labels: Mapping[str, str], output: Callable[[str], None], *,
                      size: str = DEFAULT_SIZE) -> Disk:
    """Unpack a root file system tarball (owners and modes kept: Calvin runs as root to make disks)
    and turn it into a disk."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".calvin-root-", dir=folder.parent) as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        run_tool(["tar", "-x", "-p", "--numeric-owner", "--xattrs", "-f", str(tarball), "-C", str(root)], output,
                 what="unpacking the root file system")
        return disk_from_tree(root, folder, labels, output, size=size)
