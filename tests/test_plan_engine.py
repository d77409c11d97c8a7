"""`doit plan` says exactly what `doit` does — against the real engine and a real registry.

The same generated trees and random edits as tests/test_plan_equals_run.py (which runs hundreds
of cases against the in-memory engine), on fewer cases: each run is a real `doit` process, the
steps it executed read from its own output, the images real (FROM scratch, one COPY).
"""
from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from helpers import RegistryProcess, ran, remove_namespace, run_doit
from test_plan_equals_run import (delete_database, edit_content, edit_description, edit_parent,
                                  edit_tests, edit_version, generate, plan_steps)

pytestmark = pytest.mark.engine

SEEDS = [101, 202, 303, 404]
EDITS_PER_TREE = 4


class Machine:
    """A project on the real engine (and, for odd seeds, a real registry)."""

    def __init__(self, root: Path, namespace: str, client: Any, registry: RegistryProcess | None) -> None:
        self.root, self.namespace, self.client = root, namespace, client
        self.env = {"CALVIN_REGISTRY": registry.address} if registry else {}

    def doit(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_doit(self.root, *args, namespace=self.namespace, env=self.env)

    def plan(self) -> tuple[set[str], set[str]]:
        result = self.doit("plan")
        assert result.returncode == 0, result.stdout + result.stderr
        return plan_steps(result.stdout)

    def remove_images(self, name: str) -> None:
        for image in self.client.api.images():
            if any(tag.startswith(f"{self.namespace}/{name}:") for tag in image.get("RepoTags") or []):
                for tag in image["RepoTags"]:
                    self.client.api.remove_image(tag, force=True)


def executed(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {f"{stage}:{name}" for stage in ("build", "test", "release") for name in ran(result, stage)}


@pytest.mark.parametrize("seed", SEEDS)
def test_the_plan_lists_exactly_what_a_real_run_executes(seed: int, tmp_path: Path, namespace: str,
                                                         docker_client: Any, registry: RegistryProcess) -> None:
    rng = random.Random(seed)
    use_registry = seed % 2 == 1
    root = tmp_path / "project"
    parents = generate(rng, root, False)
    if use_registry:
        (root / "configs" / "pipeline.yaml").write_text(f"namespace: {namespace}\nregistry: {registry.address}\n")
    machine = Machine(root, namespace, docker_client, registry if use_registry else None)

    def image_removed(rng: random.Random, _: Any, parents: dict[str, str | None]) -> str:
        name = rng.choice(sorted(parents))
        machine.remove_images(name)
        return f"images of {name} removed from the engine"

    def fresh_machine(rng: random.Random, world: Any, parents: dict[str, str | None]) -> str:
        remove_namespace(docker_client, namespace)
        shutil.rmtree(root / "out", ignore_errors=True)
        return delete_database(rng, world, parents) + "; engine emptied: only the registry holds images"

    edits: list[Callable[..., str]] = [edit_content, edit_version, edit_tests, edit_description, edit_parent,
                                       delete_database, image_removed]
    if use_registry:
        edits.append(fresh_machine)
    history = [f"seed {seed}: {parents}, registry {use_registry}"]
    for number in range(EDITS_PER_TREE):
        history.append("first run" if number == 0 else rng.choice(edits)(rng, machine, parents))
        will, blocked = machine.plan()
        run = machine.doit()
        story = "\n  ".join(history) + f"\nplan: {sorted(will)} blocked {sorted(blocked)}\n{run.stdout}{run.stderr}"
        assert "Traceback" not in run.stdout + run.stderr, story
        if blocked:
            assert run.returncode != 0 and executed(run) == set(), story
        else:
            assert run.returncode == 0, story
            assert executed(run) == will, story
            assert machine.plan()[0] == set(), story
