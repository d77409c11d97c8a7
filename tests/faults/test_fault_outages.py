"""The engine killed during a run, the registry killed during a release: the run ends with one line
naming the party that failed (no traceback) and a manifest; the next run, once the party is back,
completes without redoing finished work."""
from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from fault_helpers import (FaultEnvironment, assert_released, assert_truthful, one_line, running, stop, uploading,
                           wait_until)
from helpers import child_resource, make_project, ran, root_resource

pytestmark = pytest.mark.engine

BIG = "RUN dd if=/dev/urandom of=/blob bs=1M count=48 2>/dev/null\n"


def project(tmp_path: Path, namespace: str, extra: str) -> Path:
    files = {**root_resource("first", extra=f'LABEL test="{namespace}"\n'), **child_resource("slow", "first", extra=extra)}
    return make_project(tmp_path / "project", files)


def test_the_engine_killed_during_a_build(faults: FaultEnvironment, ns: str, tmp_path: Path, outcome: Any) -> None:
    root = project(tmp_path, ns, "RUN sleep 6\n")
    log = tmp_path / "run.log"
    started = time.time()
    with log.open("w") as out:
        run = faults.start(root, ns, out)
        try:
            wait_until(running(faults, "sleep 6"), 120, "slow's build running its RUN sleep")
            faults.engine.kill()
        finally:
            code = stop(run)
            if not faults.engine_answers():
                faults.engine.start_daemon()
    output = log.read_text()

    assert code not in (0, -9), output  # it ended by itself, and not as a success
    assert "Traceback" not in output, output
    said = one_line(output, r"Docker engine at .*stopped answering")
    assert faults.engine.base_url in said and "build:slow" in said, output
    assert "returned a non-zero code" not in output  # not blamed on the resource
    manifest = root / "out" / "releases" / "latest.json"
    assert manifest.exists() and manifest.stat().st_mtime >= started, "no manifest written for the failed run"

    result, seconds = faults.run(root, ns)

    assert result.returncode == 0, result.stdout + result.stderr
    assert_truthful(result.stdout + result.stderr, faults, ns)
    assert ran(result, "build") == ["slow"]
    assert_released(faults, root, ns, ["first", "slow"])
    assert faults.leftovers() == [], "the killed engine's build container is still there after the rerun"
    outcome("engine killed during a build", "completed", seconds, said)


def test_the_registry_killed_during_a_release(faults: FaultEnvironment, ns: str, tmp_path: Path,
                                              outcome: Any) -> None:
    root = project(tmp_path, ns, BIG)
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = faults.start(root, ns, out)
        try:
            wait_until(uploading(faults, f"{ns}/slow"), 120, "the registry receiving slow's layers")
            process = faults.registry.process
            assert process is not None
            process.send_signal(signal.SIGKILL)
            process.wait()
        finally:
            code = stop(run)
            faults.registry.start()
    output = log.read_text()

    assert code not in (0, -9), output
    assert "Traceback" not in output, output
    said = one_line(output, rf"FAILED.*{faults.registry.address}|FAILED.*registry")
    assert faults.registry.address in said, output
    assert faults.registry.tags(f"{ns}/slow") == [] or "released" not in one_line(output, "slow .* released")

    result, seconds = faults.run(root, ns)

    assert result.returncode == 0, result.stdout + result.stderr
    assert_truthful(result.stdout + result.stderr, faults, ns)
    assert ran(result, "build") == []  # built and tested images were kept
    assert_released(faults, root, ns, ["first", "slow"])
    outcome("registry killed during a release", "completed", seconds, said)
