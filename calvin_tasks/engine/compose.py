"""Docker Compose (Debian's docker-compose, v1) for one environment: up, down, and its containers.

Compose runs the environment; Calvin only renders the file and reads the result. Its commands
run as a subprocess; a failure is a StepFailed with compose's own last lines.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable

from ..errors import StepFailed
from . import contexts

COMMAND = "docker-compose"


class Compose:
    def __init__(self, project: str, file: Path) -> None:
        self.project, self.file = project, file

    def _run(self, *args: str, output: Callable[[str], None], timeout: float = 900) -> None:
        binary = shutil.which(COMMAND)
        if binary is None:
            raise StepFailed(f"{COMMAND} is not installed — `make tools` installs Debian's docker-compose")
        context = contexts.named()  # the engine Calvin talks to: DOCKER_HOST is inherited, a context named
        command = [binary, "--ansi", "never", *(["--context", context] if context else []), "-p", self.project,
                   "-f", str(self.file), *args]
        try:
            done = subprocess.run(command, cwd=self.file.parent, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"{COMMAND} {' '.join(args)} did not finish within {timeout:g} s") from None
        lines = (done.stdout + done.stderr).strip().splitlines()
        for line in lines:
            if line.strip():
                output(line.strip())
        if done.returncode != 0:
            raise StepFailed(f"{COMMAND} {' '.join(args)} failed (exit {done.returncode}): "
                             + " | ".join(lines[-5:]))

    def up(self, output: Callable[[str], None]) -> None:
        """Converge: create what is missing, replace what changed, keep the rest running."""
        self._run("up", "-d", "--remove-orphans", output=output)

    def down(self, volumes: bool, output: Callable[[str], None]) -> None:
        self._run("down", "--remove-orphans", *(["--volumes"] if volumes else []), output=output)
