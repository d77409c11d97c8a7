"""The shipped catalogue built once per test session (the `catalogue` fixture in conftest.py, used by
tests/test_catalogue.py and tests/test_swarm_catalogue_engine.py), and a copy of the repository to
deploy it from."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from calvin_tasks.model import Project
from helpers import REPO

ENVIRONMENT = "dev"
BUILD_TIMEOUT = 1800


@dataclass
class Catalogue:
    namespace: str
    output: Path
    project: Project
    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def names(self) -> list[str]:
        return sorted(self.project.resources)

    def image(self, name: str) -> str:
        """The content tag of `name`'s image: exactly the image that was built and tested."""
        return f"{self.namespace}/{name}:{self.project.fingerprints[name].content_tag}"

    def report(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.output / "reports" / f"{name}.json").read_text()))

    def manifest(self) -> dict[str, Any]:
        return dict(json.loads((self.output / "releases" / "latest.json").read_text()))

    def explain(self) -> str:
        """The run's failures first (pytest cuts long messages), then its whole output."""
        failures = "\n".join(line for line in self.result.stdout.splitlines() if line.startswith("FAILED "))
        return (f"doit exited {self.result.returncode} after {self.seconds:.0f} s\n{failures}\n"
                f"--- stderr\n{self.result.stderr[-20000:]}\n--- stdout\n{self.result.stdout[-40000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_of_the_repository(target: Path, namespace: str) -> Path:
    """resources/, configs/, samples/, dodo.py and pyproject.toml; dev's published ports on free loopback
    ports and its volumes named for this session, so a developer's own dev environment is untouched."""
    target.mkdir(parents=True)
    for name in ("resources", "configs", "samples"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dodo.py", "pyproject.toml"):
        shutil.copy2(REPO / name, target / name)
    dev = target / "configs" / "environments" / f"{ENVIRONMENT}.yaml"
    data = yaml.safe_load(dev.read_text())
    for service in data["services"].values():
        for port in list((service or {}).get("publish") or {}):
            service["publish"][port] = f"127.0.0.1:{free_port()}"
        for volume in list((service or {}).get("volumes") or {}):
            service["volumes"][volume] = f"{namespace}-{service['volumes'][volume]}"
    data["services"]["metrics"] = {**(data["services"].get("metrics") or {}),
                                   "publish": {9090: f"127.0.0.1:{free_port()}"}}
    dev.write_text(yaml.safe_dump(data, sort_keys=False))
    return target
