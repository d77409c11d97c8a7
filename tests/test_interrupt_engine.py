"""An interrupted run loses no finished work and the next run carries on (SPEC §7)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import child_resource, make_project, ran, root_resource, run_doit

pytestmark = pytest.mark.engine


def _wait_for(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear in the output within {timeout} s:\n{path.read_text()}")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_an_interrupted_run_keeps_finished_work_and_the_next_run_carries_on(
        tmp_path: Path, namespace: str, docker_client: Any, how: signal.Signals) -> None:
    files = {**root_resource("first", extra=f'LABEL test="{namespace}"\n'),
             **child_resource("slow", "first", extra="RUN sleep 8\n")}
    project = make_project(tmp_path / "project", files)
    log = tmp_path / "doit.log"
    env = dict(os.environ, CALVIN_NAMESPACE=namespace, PYTHONUNBUFFERED="1")
    env.pop("CALVIN_REGISTRY", None)
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "doit"], cwd=project, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            _wait_for(log, "slow | step 5/", timeout=120)  # `slow` is inside its RUN sleep
            process.send_signal(how)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode != 0
    interrupted = log.read_text()
    assert "built " in interrupted and ".  test:first" in interrupted
    first_released = f"released {namespace}/first:1.0.0" in interrupted

    carried_on = run_doit(project, namespace=namespace)

    assert carried_on.returncode == 0, carried_on.stdout + carried_on.stderr
    assert ran(carried_on, "build") == ["slow"]  # `first` was finished: not built again
    assert ran(carried_on, "test") == ["slow"]
    assert ran(carried_on, "release") == (["slow"] if first_released else ["first", "slow"])
    assert docker_client.images.get(f"{namespace}/slow:1.0.0").labels["calvin.resource"] == "slow"
    leftovers = docker_client.containers.list(all=True, filters={"label": f"calvin.namespace={namespace}"})
    assert leftovers == []
