"""Two runs at once, in two clones of one project, against one registry (two CI agents): no false
test failure, no false "released" message, every version / content / tested tag trio on one digest,
and each run's manifest records the digest the registry holds.

CALVIN_FAULT_TRIALS sets the number of trials (default 3, to fit CI's time budget)."""
from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from fault_helpers import FaultEnvironment, RELEASED, stop, trio
from helpers import child_resource, make_project, remove_namespace, root_resource

pytestmark = pytest.mark.engine

TRIALS = int(os.environ.get("CALVIN_FAULT_TRIALS", "3"))
NAMES = ["first", "left", "right"]
CHECK = "commands:\n  - name: answers\n    run: [sh, -c, 'sleep 1; echo ok']\n    stdout: ok\n"


def clone(folder: Path, namespace: str) -> Path:
    files = {**root_resource("first", extra=f'LABEL test="{namespace}"\n'),
             **child_resource("left", "first"), **child_resource("right", "first"),
             "resources/first/tests.yaml": CHECK, "resources/left/tests.yaml": CHECK,
             "resources/right/tests.yaml": CHECK}
    return make_project(folder, files)


def trial(faults: FaultEnvironment, tmp_path: Path, namespace: str) -> list[str]:
    """What went wrong in one trial (nothing, when both runs are right)."""
    clones = [clone(tmp_path / namespace / side, namespace) for side in ("a", "b")]
    logs = [tmp_path / namespace / f"{side}.log" for side in ("a", "b")]
    with logs[0].open("w") as out_a, logs[1].open("w") as out_b:
        runs = [faults.start(clones[0], namespace, out_a), faults.start(clones[1], namespace, out_b)]
        codes = [stop(run) for run in runs]
    wrong = []
    held = {name: trio(faults, clones[0], namespace, name) for name in NAMES}
    for name, tags in held.items():
        if tags["version"] is None or len(set(tags.values())) != 1:
            wrong.append(f"{name}: tags on different digests {tags}")
    for side, code, log, root in zip("ab", codes, logs, clones, strict=True):
        output = log.read_text()
        if code != 0:
            wrong.append(f"run {side} exited {code}: " + " | ".join(output.strip().splitlines()[-4:]))
        if "FAILED" in output or "Traceback" in output:
            wrong.append(f"run {side} reported a failure: "
                         + " | ".join(line for line in output.splitlines() if "FAILED" in line or "Error" in line))
        for said in RELEASED.finditer(output):
            if said["ns"] == namespace and held[said["name"]]["version"] != said["digest"]:
                wrong.append(f"run {side} said {said.group(0)!r}; the registry holds {held[said['name']]['version']}")
        try:
            manifest = json.loads((root / "out" / "releases" / "latest.json").read_text())
        except (OSError, ValueError) as err:
            wrong.append(f"run {side} wrote no manifest: {err}")
            continue
        for entry in manifest["resources"]:
            if entry["digest"] != held[entry["resource"]]["version"] or not entry["released"]:
                wrong.append(f"run {side}'s manifest records {entry['resource']} as {entry['digest']} "
                             f"(released: {entry['released']}); the registry holds {held[entry['resource']]['version']}")
    return wrong


def test_two_runs_at_once_against_one_registry(faults: FaultEnvironment, tmp_path: Path, outcome: Any) -> None:
    failures: dict[int, list[str]] = {}
    started = time.monotonic()
    for number in range(TRIALS):
        namespace = f"calvin-fault-c{secrets.token_hex(3)}"
        try:
            wrong = trial(faults, tmp_path, namespace)
        finally:
            if faults.engine_answers():
                remove_namespace(faults.client, namespace)
        if wrong:
            failures[number] = wrong
    seconds = time.monotonic() - started
    outcome(f"two runs at once ({TRIALS} trials)", f"{TRIALS - len(failures)}/{TRIALS} right", seconds / TRIALS,
            "; ".join(failures[min(failures)])[:300] if failures else "both runs exit 0, trios on one digest")
    assert not failures, "\n".join(f"trial {n}: {w}" for n, ws in failures.items() for w in ws)
