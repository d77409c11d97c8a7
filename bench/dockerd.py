"""A dockerd of our own — same binary as the host's, its own data root, exec root, socket and pid
file under one token — started, stopped, killed and removed with everything it made. Used by the
benchmark's and the fault tests' private engine (bench/engine.py) and by the two-node swarm test's
nodes (tests/swarm_nodes.py, which start it inside a network namespace through `prefix`).

Every dockerd runs without iptables rules or IP masquerading (`--iptables=false --ip-masq=false`):
it never touches the host's firewall. Give it a bridge of its own (`--bridge=<yours>`, or `--bip`
inside a network namespace of its own): a dockerd started with --bridge=none deletes the host's
docker0, which the user's own engine needs.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Sequence


class Dockerd:
    def __init__(self, token: str, log: Path, *, args: Sequence[str] = (), prefix: Sequence[str] = (),
                 what: str = "the private dockerd", timeout: float = 60) -> None:
        self.token, self.log, self.args, self.prefix, self.what, self.timeout = token, log, args, prefix, what, timeout
        self.data_root = Path("/var/lib") / token
        self.exec_root = Path("/run") / token
        self.socket = f"/run/{token}.sock"
        self.host = f"unix://{self.socket}"
        self.pidfile = Path(f"/run/{token}.pid")
        self.process: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        return subprocess.run(["docker", "-H", self.host, "version"], capture_output=True, timeout=30).returncode == 0

    def start(self) -> None:
        """(Re)start dockerd, keeping its data (an outage, not a loss); returns once it answers."""
        # After a kill, containerd's pid file names a dead process (a zombie, where nothing reaps
        # it, still "answers"): dockerd would wait for it instead of starting a new containerd.
        (self.exec_root / "containerd" / "containerd.pid").unlink(missing_ok=True)
        command = [*self.prefix, "dockerd", "--iptables=false", "--ip-masq=false", "--log-level=warn",
                   f"--data-root={self.data_root}", f"--exec-root={self.exec_root}", f"--pidfile={self.pidfile}",
                   f"--host={self.host}", *self.args]
        self.process = subprocess.Popen(command, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.what} exited: {self.log.read_text()[-2000:]}")
            if self.answers():
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.what} did not answer within {self.timeout:g} s")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL dockerd, as an OOM killer or a crash would (its containerd dies with it)."""
        if self.process is not None and self.running():
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 60) -> None:
        """Stop it as an operator would (SIGTERM: it stops its containers), killed if it hangs."""
        if self.process is not None and self.running():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def remove(self) -> None:
        """Stop it and remove everything it made: what a killed dockerd left mounted (its data
        root's bind mount, containers' overlays, network namespaces), deepest first, then its folders."""
        self.stop()
        roots = (str(self.exec_root) + "/", str(self.data_root) + "/")
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if len(line.split()) > 1]
        for point in sorted((m for m in mounts if (m + "/").startswith(roots)), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        for path in (self.exec_root, self.data_root):
            shutil.rmtree(path, ignore_errors=True)
        for leftover in (Path(self.socket), self.pidfile):
            leftover.unlink(missing_ok=True)
