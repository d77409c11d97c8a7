"""Helpers for the fault tests: doit runs against the private engine and the htpasswd registry,
waiting for a moment inside a run, and the checks every fault ends with (nothing lost, truthful
messages, release trios on one digest)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from bench.engine import PrivateEngine
from calvin_tasks.project import load_project
from calvin_tasks.store import tested_tag
from helpers import RegistryProcess, run_doit

RELEASED = re.compile(r"released (?:\S+/)?(?P<ns>[^/\s]+)/(?P<name>[^/:\s]+):(?P<version>\S+) \((?P<digest>sha256:[0-9a-f]{64})\)")


@dataclass(frozen=True)
class Outcome:
    fault: str
    result: str
    rerun_seconds: float
    user_sees: str


@dataclass
class FaultEnvironment:
    engine: PrivateEngine
    registry: RegistryProcess
    docker_config: Path
    client: Any

    def env(self, namespace: str, **extra: str) -> dict[str, str]:
        return {"CALVIN_NAMESPACE": namespace, "CALVIN_REGISTRY": self.registry.address,
                "DOCKER_HOST": self.engine.base_url, "DOCKER_CONFIG": str(self.docker_config), **extra}

    def engine_answers(self) -> bool:
        import docker.errors

        try:
            return bool(self.client.ping())
        except (docker.errors.DockerException, OSError):  # requests' ConnectionError is an OSError
            return False

    def run(self, project: Path, namespace: str, **extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
        """A whole doit run, and how long it took."""
        started = time.monotonic()
        result = run_doit(project, namespace=namespace, env=self.env(namespace, **extra), timeout=300)
        return result, time.monotonic() - started

    def start(self, project: Path, namespace: str, log: IO[str], **extra: str) -> subprocess.Popen[str]:
        """doit in the background, its output (stdout and stderr) in `log`."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env(namespace, **extra))
        return subprocess.Popen([sys.executable, "-m", "doit"], cwd=project, env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)

    def containers(self, **filters: str) -> list[dict[str, Any]]:
        return list(self.client.api.containers(all=True, filters=filters or None))

    def leftovers(self) -> list[str]:
        """Every container in the private engine, described for an assertion message."""
        return [f"{c['Names'][0]} {c['State']} {c.get('Command')!r} labels={sorted(c.get('Labels') or {})}"
                for c in self.containers()]

    def docker(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The docker CLI on the private engine, logged in to the registry."""
        env = dict(os.environ, DOCKER_CONFIG=str(self.docker_config))
        return subprocess.run(["docker", "-H", self.engine.base_url, *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=120, check=True)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


# The moments a fault strikes are read from the engine and the registry, not from Calvin's output.

def running(faults: FaultEnvironment, command: str) -> Callable[[], bool]:
    """A container running `command` (a build step's or a check's) exists in the private engine."""
    return lambda: any(command in str(c.get("Command") or "")
                       for c in faults.client.api.containers(filters={"status": "running"}))


def uploading(faults: FaultEnvironment, repository: str) -> Callable[[], bool]:
    """The registry is receiving a blob of `repository` (an upload in progress has a folder)."""
    uploads = faults.registry.folder / "data" / "docker" / "registry" / "v2" / "repositories" / repository / "_uploads"
    return lambda: uploads.is_dir() and any(uploads.iterdir())


def tagged(faults: FaultEnvironment, repository: str, tag: str) -> Callable[[], bool]:
    """The registry holds repository:tag."""
    return lambda: tag in faults.registry.tags(repository)


def stop(process: subprocess.Popen[str], timeout: float = 180) -> int:
    """Wait for a run to end (killing it if it hangs: a hang is a finding, reported as -9)."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return -9


def trio(faults: FaultEnvironment, project: Path, namespace: str, name: str) -> dict[str, str | None]:
    """The digests of `name`'s version tag, content tag and tested mark in the registry."""
    loaded = load_project(project)
    fingerprints, version = loaded.fingerprints[name], loaded.resources[name].version
    repository = f"{namespace}/{name}"
    return {"version": faults.registry.digest(repository, version),
            "content": faults.registry.digest(repository, fingerprints.content_tag),
            "tested": faults.registry.digest(repository, tested_tag(fingerprints))}


def assert_released(faults: FaultEnvironment, project: Path, namespace: str, names: list[str]) -> dict[str, str]:
    """Every resource's version tag, content tag and tested mark on one digest; returns the digests."""
    digests = {}
    for name in names:
        found = trio(faults, project, namespace, name)
        assert found["version"] is not None, f"{namespace}/{name} has no version tag: {found}"
        assert len(set(found.values())) == 1, f"{namespace}/{name}'s tags are on different digests: {found}"
        digests[name] = str(found["version"])
    return digests


def assert_truthful(output: str, faults: FaultEnvironment, namespace: str) -> None:
    """No traceback, and every "released … (digest)" line matches what the registry holds."""
    assert "Traceback" not in output, output
    for line in RELEASED.finditer(output):
        if line["ns"] != namespace:
            continue
        held = faults.registry.digest(f"{namespace}/{line['name']}", line["version"])
        assert held == line["digest"], f"the run said {line.group(0)!r} but the registry holds {held}"


def one_line(text: str, pattern: str) -> str:
    """The first output line matching `pattern`, stripped (what the user sees)."""
    for line in text.splitlines():
        if re.search(pattern, line):
            return line.strip()
    return "(no line matches /" + pattern + "/)"
