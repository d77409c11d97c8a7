"""kill -9 of the doit process during a build, a smoke test and a push: nothing finished is lost,
nothing half-done is taken for done, and the next run completes, removing what the killed run left."""
from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from calvin_tasks.project import load_project
from fault_helpers import (FaultEnvironment, assert_released, assert_truthful, one_line, running, stop, tagged, trio,
                           wait_until)
from helpers import child_resource, make_project, ran, root_resource

pytestmark = pytest.mark.engine

SLOW_TEST = "commands:\n  - name: slow check\n    run: [sh, -c, 'sleep 4; echo ok']\n    stdout: ok\n"
BIG = "RUN dd if=/dev/urandom of=/blob bs=1M count=48 2>/dev/null\n"  # a push that takes a moment


def project(tmp_path: Path, namespace: str, *, extra: str = "", tests: str | None = None) -> Path:
    files = {**root_resource("first", extra=f'LABEL test="{namespace}"\n'), **child_resource("slow", "first", extra=extra)}
    if tests is not None:
        files["resources/slow/tests.yaml"] = tests
    return make_project(tmp_path / "project", files)


def kill_when(faults: FaultEnvironment, project_dir: Path, namespace: str, log: Path, moment: Any, what: str) -> int:
    with log.open("w") as out:
        run = faults.start(project_dir, namespace, out)
        try:
            wait_until(moment, 120, what)
            run.send_signal(signal.SIGKILL)
        finally:
            code = stop(run)
    return code


def rerun_completes(faults: FaultEnvironment, project_dir: Path, namespace: str) -> tuple[Any, float]:
    result, seconds = faults.run(project_dir, namespace)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert_truthful(output, faults, namespace)
    assert_released(faults, project_dir, namespace, ["first", "slow"])
    assert faults.leftovers() == [], "the killed run's containers are still in the engine after the rerun"
    return result, seconds


def test_kill_9_during_a_build(faults: FaultEnvironment, ns: str, tmp_path: Path, outcome: Any) -> None:
    root = project(tmp_path, ns, extra="RUN sleep 6\n")
    log = tmp_path / "killed.log"

    code = kill_when(faults, root, ns, log, running(faults, "sleep 6"), "slow's build running its RUN sleep")

    assert code == -signal.SIGKILL
    assert faults.registry.tags(f"{ns}/slow") == []  # nothing of the unfinished resource was released
    result, seconds = rerun_completes(faults, root, ns)
    assert ran(result, "build") == ["slow"]  # `first` was finished before the kill: not built again
    outcome("kill -9 doit during a build", "completed", seconds, one_line(result.stdout, r"^calvin: "))


def test_kill_9_during_a_smoke_test(faults: FaultEnvironment, ns: str, tmp_path: Path, outcome: Any) -> None:
    root = project(tmp_path, ns, tests=SLOW_TEST)
    log = tmp_path / "killed.log"
    testing = {"label": [f"calvin.namespace={ns}", "calvin.resource=slow"], "status": "running"}

    code = kill_when(faults, root, ns, log, lambda: bool(faults.client.api.containers(filters=testing)),
                     "slow's smoke-test container starting")

    assert code == -signal.SIGKILL
    assert faults.registry.tags(f"{ns}/slow") == []
    result, seconds = rerun_completes(faults, root, ns)
    assert ran(result, "build") == []  # slow was built before its test began
    assert ran(result, "test") == ["slow"]
    assert "slow · slow check" in result.stdout and "FAILED" not in result.stdout
    outcome("kill -9 doit during a smoke test", "completed", seconds,
            one_line(result.stdout, r"left by an interrupted run|^calvin: "))


def test_kill_9_during_a_push(faults: FaultEnvironment, ns: str, tmp_path: Path, outcome: Any) -> None:
    root = project(tmp_path, ns, extra=BIG)
    log = tmp_path / "killed.log"

    # killed once the first tag (the content tag) is in the registry, while the others are on their way
    content = load_project(root).fingerprints["slow"].content_tag
    code = kill_when(faults, root, ns, log, tagged(faults, f"{ns}/slow", content), "slow's content tag pushed")

    assert code == -signal.SIGKILL
    after_kill = trio(faults, root, ns, "slow")
    if after_kill["version"] is not None:  # the version tag is pushed last: it only names a complete release
        assert after_kill["version"] == after_kill["content"] == after_kill["tested"], after_kill
    result, seconds = rerun_completes(faults, root, ns)
    assert ran(result, "build") == []  # the built and tested image was kept
    if after_kill["version"] is not None:
        assert trio(faults, root, ns, "slow")["version"] == after_kill["version"]  # a release never moves
    outcome("kill -9 doit during a push", f"completed (tags after kill: "
            f"{sum(v is not None for v in after_kill.values())}/3)", seconds, one_line(result.stdout, r"^calvin: "))
