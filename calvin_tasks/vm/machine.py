"""A throwaway virtual machine: a disk booted under QEMU on a copy-on-write overlay, bounded in
memory, CPUs and time, reached over SSH with a key made for this boot only, always killed and its
overlay deleted — on failure and on Ctrl-C too.

The accelerator is probed once per kernel and host boot (a bounded boot of the kernel that must end
by itself; the verdict is kept in $CALVIN_VM_WORK/calvin-accelerator/ until the host reboots, so
the builds and test boots of one run, and later runs, do not each wait out a hanging probe): KVM
when it works, else TCG (software emulation). CALVIN_VM_ACCEL=tcg|kvm skips the probe.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Iterable, Mapping

from ..errors import StepFailed
from ..files import write_atomic
from .disk import FW_CFG_KEY, KERNEL_ARGS, Disk

QEMU = "qemu-system-x86_64"
VERDICTS = Path(os.environ.get("CALVIN_VM_WORK", "/var/tmp")) / "calvin-accelerator"
PROBE_SECONDS = 25.0
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes"]


@cache
def accelerator(kernel: Path) -> str:
    """'kvm' when a KVM guest boots this kernel to its end within the probe's bound, else 'tcg'."""
    chosen = os.environ.get("CALVIN_VM_ACCEL", "")
    if chosen in ("kvm", "tcg"):
        return chosen
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    try:
        record = VERDICTS / f"{_boot_id()}-{_sha256(kernel)[:24]}"
    except OSError:
        return _probe(kernel)
    try:
        verdict = record.read_text().strip()
    except OSError:
        verdict = ""
    if verdict not in ("kvm", "tcg"):
        verdict = _probe(kernel)
        record.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(record, verdict + "\n")
    return verdict


def _probe(kernel: Path) -> str:
    # no root file system and panic=-1: a working guest panics and QEMU (-no-reboot) exits by itself
    command = [QEMU, "-accel", "kvm", "-m", "256", "-nographic", "-no-reboot", "-nic", "none",
               "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1 root=/dev/calvin-probe"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "tcg"
    except FileNotFoundError:
        raise StepFailed(f"'{QEMU}' is not installed (make tools installs qemu-system-x86)") from None
    return "kvm" if b"Kernel panic" in done.stdout else "tcg"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Bounds:
    memory_mb: int = 1024
    cpus: int = 1
    boot_seconds: float = 240.0


@dataclass
class Machine:
    """A booted disk. Use as a context manager: the VM is killed and its files deleted on exit."""

    disk: Disk
    bounds: Bounds = field(default_factory=Bounds)
    forwards: Iterable[int] = ()        # guest TCP ports to reach from 127.0.0.1
    network: bool = False               # may the guest reach beyond the host (a check asked for it)
    ssh_port: int = 0
    ports: dict[int, int] = field(default_factory=dict)   # guest port → 127.0.0.1 port
    accel: str = ""
    boot_seconds: float = 0.0
    _work: Path | None = None
    _process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Machine:
        try:
            self.start()
        except BaseException:  # Ctrl-C during boot too: nothing is left running
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    @property
    def key(self) -> Path:
        assert self._work is not None
        return self._work / "key"

    @property
    def console(self) -> Path:
        assert self._work is not None
        return self._work / "console.log"

    def start(self) -> None:
        if not self.disk.complete():
            raise StepFailed(f"no complete disk in {self.disk.folder}")
        self._work = Path(tempfile.mkdtemp(prefix="calvin-vm-"))
        overlay = self._work / "overlay.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                        str(self.disk.image.resolve()), str(overlay)], check=True, capture_output=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "calvin-test", "-f", str(self.key)],
                       check=True, capture_output=True)
        self.accel = accelerator(self.disk.kernel)
        self.ssh_port = free_port()
        self.ports = {port: free_port() for port in sorted(set(self.forwards))}
        forwards = [f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"]
        forwards += [f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in self.ports.items()]
        nic = ",".join(["user", "model=virtio-net-pci", f"restrict={'off' if self.network else 'on'}", *forwards])
        command = [QEMU, "-accel", self.accel, "-m", str(self.bounds.memory_mb), "-smp", str(self.bounds.cpus),
                   "-nographic", "-no-reboot", "-kernel", str(self.disk.kernel), "-initrd", str(self.disk.initrd),
                   "-append", KERNEL_ARGS, "-drive", f"file={overlay},if=virtio,format=qcow2",
                   "-nic", nic, "-fw_cfg", f"name={FW_CFG_KEY},file={self.key}.pub"]
        started = time.monotonic()
        with open(self.console, "wb") as console:
            self._process = subprocess.Popen(command, stdout=console, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True,
                                             preexec_fn=_die_with_parent)
        self._wait_for_ssh(started + self.bounds.boot_seconds)
        self.boot_seconds = time.monotonic() - started

    def _wait_for_ssh(self, deadline: float) -> None:
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise StepFailed(f"the VM stopped during boot (status {self._process.returncode}): "
                                 f"{self.console_tail()}")
            if self.ssh(["true"], timeout=15).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise StepFailed(f"the VM did not answer SSH within {self.bounds.boot_seconds:g} s "
                                 f"({self.accel}): {self.console_tail()}")
            time.sleep(2)

    def console_tail(self, lines: int = 15) -> str:
        try:
            text = self.console.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.replace("\r", "").splitlines()[-lines:])

    def ssh(self, command: list[str], *, timeout: float, stdin: bytes | None = None,
            env: Mapping[str, str] | None = None, user: str | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run a command in the guest as root (or `user`, through runuser); never raises on its status."""
        words = [f"{k}={_quote(v)}" for k, v in (env or {}).items()]
        line = " ".join(_quote(part) for part in command)
        if words:
            line = "env " + " ".join(words) + " " + line
        if user:
            line = f"runuser -u {_quote(user)} -- sh -c {_quote(line)}"
        ssh = [*self._ssh(), "root@127.0.0.1", line]
        try:
            return subprocess.run(ssh, input=stdin, capture_output=True, timeout=timeout,
                                  stdin=None if stdin is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as err:
            return subprocess.CompletedProcess(ssh, -9, err.stdout or b"", (err.stderr or b"") + b"timed out")

    def _ssh(self) -> list[str]:
        """ssh to the guest; one connection shared by every command (a key exchange costs seconds in
        an emulated guest)."""
        assert self._work is not None
        return ["ssh", *SSH_OPTIONS, "-i", str(self.key), "-p", str(self.ssh_port), "-o", "ControlMaster=auto",
                "-o", f"ControlPath={self._work / 'ssh.sock'}", "-o", "ControlPersist=60"]

    def stop(self) -> None:
        if self._work is not None and (self._work / "ssh.sock").exists():
            subprocess.run([*self._ssh(), "-O", "exit", "root@127.0.0.1"], capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        work, self._work = self._work, None
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def _die_with_parent() -> None:
    """QEMU gets SIGKILL when Calvin's process ends, however it ends (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
