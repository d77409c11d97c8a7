"""`doit plan` says exactly what `doit` does: over generated trees and random edits, the steps the
plan lists as "will run" are the steps doit executes (counted from doit's own task events).

Hundreds of whole runs go through doit in this process, against an in-memory engine and registry
(tests/fakes.py) — fast enough for many cases; tests/test_plan_engine.py checks the same property
against the real engine and a real registry on fewer cases.
"""
from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest
from fakes import SERVERS, Daemon, Server
from inprocess import Outcome, run_here
from helpers import make_project

TREES = 25
EDITS_PER_TREE = 9  # 225 cases
STEP = re.compile(r"^((?:build|test|release):\S+)\s+(will run|blocked|up to date)\s")
REGISTRY = "fake-registry:5000"


# -- generated trees ---------------------------------------------------------------------------------

def resource_files(name: str, base: str | None, *, version: str = "1.0.0", note: str = "") -> dict[str, str]:
    head = f"description: {name}, a generated resource\ngroup: build\nversion: {version}\n"
    dockerfile = ("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n" if base else "FROM scratch\n") + "COPY note.txt /note.txt\n"
    return {
        f"resources/{name}/resource.yaml": head + (f"base: {base}\n" if base else ""),
        f"resources/{name}/Dockerfile": dockerfile,
        f"resources/{name}/note.txt": f"{name} {note}\n",
        f"resources/{name}/tests.yaml": f"metadata:\n  labels: {{org.opencontainers.image.title: {name}}}\n",
    }


def generate(rng: random.Random, root: Path, registry: bool) -> dict[str, str | None]:
    """A forest of 2–7 resources; returns each resource's parent."""
    count = rng.randint(2, 7)
    names = [f"r{i}" for i in range(count)]
    parents: dict[str, str | None] = {}
    files: dict[str, str | bytes | Path] = {}
    for index, name in enumerate(names):
        parents[name] = rng.choice(names[:index]) if index and rng.random() < 0.75 else None
        files.update(resource_files(name, parents[name]))
    pipeline = "namespace: calvin\n" + (f"registry: {REGISTRY}\n" if registry else "")
    make_project(root, files, pipeline=pipeline)
    return parents


# -- in-process doit ---------------------------------------------------------------------------------

class World:
    """One machine (a fake daemon) and the registry it may push to; doit runs in this process."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.root, self.daemon, self.monkeypatch = root, Daemon(), monkeypatch

    def doit(self, *args: str) -> Outcome:
        return run_here(self.root, self.daemon, self.monkeypatch, *args)

    def plan(self) -> tuple[set[str], set[str], str]:
        """(will run, blocked, the plan's last line)."""
        result = self.doit("plan")
        assert result.code == 0, result.output
        will, blocked = plan_steps(result.output)
        return will, blocked, result.output.strip().splitlines()[-1]


def plan_steps(output: str) -> tuple[set[str], set[str]]:
    """The steps `doit plan` printed as "will run" and as "blocked"."""
    will, blocked = set(), set()
    for line in output.splitlines():
        match = STEP.match(line)
        if match and match.group(2) == "will run":
            will.add(match.group(1))
        elif match and match.group(2) == "blocked":
            blocked.add(match.group(1))
    return will, blocked


# -- edits ---------------------------------------------------------------------------------------------

def _yaml(root: Path, name: str) -> Path:
    return root / "resources" / name / "resource.yaml"


def bump(root: Path, name: str) -> str:
    path = _yaml(root, name)
    text = path.read_text()
    major, minor, patch = re.search(r"^version: (\d+)\.(\d+)\.(\d+)$", text, re.M).groups()  # type: ignore[union-attr]
    path.write_text(re.sub(r"^version: .*$", f"version: {major}.{minor}.{int(patch) + 1}", text, flags=re.M))
    return f"version {name}"


def edit_content(rng: random.Random, world: World, parents: dict[str, str | None]) -> str:
    name = rng.choice(sorted(parents))
    with (world.root / "resources" / name / "note.txt").open("a") as handle:
        handle.write(f"edit {rng.random()}\n")
    # a person mostly bumps what they change, and sometimes forgets (the plan must then say blocked)
    return f"content {name}" + (f" + {bump(world.root, name)}" if rng.random() < 0.7 else "")


def edit_version(rng: random.Random, world: World, parents: dict[str, str | None]) -> str:
    return bump(world.root, rng.choice(sorted(parents)))


def edit_tests(rng: random.Random, world: World, parents: dict[str, str | None]) -> str:
    name = rng.choice(sorted(parents))
    with (world.root / "resources" / name / "tests.yaml").open("a") as handle:
        handle.write(f"# reviewed {rng.random()}\n")
    return f"tests {name}"


def edit_description(rng: random.Random, world: World, parents: dict[str, str | None]) -> str:
    name = rng.choice(sorted(parents))
    path = _yaml(world.root, name)
    path.write_text(re.sub(r"^description: .*$", f"description: {name}, said otherwise {rng.random()}",
                           path.read_text(), flags=re.M))
    return f"description {name}"


def edit_parent(rng: random.Random, world: World, parents: dict[str, str | None]) -> str:
    children = sorted(n for n, p in parents.items() if p)
    if not children:
        return edit_content(rng, world, parents)
    name = children[rng.randrange(len(children))]
    below = descendants(parents, name) | {name}
    options = sorted(n for n in parents if n not in below and n != parents[name])
    if not options:
        return edit_tests(rng, world, parents)
    parents[name] = rng.choice(options)
    path = _yaml(world.root, name)
    path.write_text(re.sub(r"^base: .*$", f"base: {parents[name]}", path.read_text(), flags=re.M))
    return f"parent {name} → {parents[name]}" + (f" + {bump(world.root, name)}" if rng.random() < 0.7 else "")


def descendants(parents: dict[str, str | None], name: str) -> set[str]:
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if child not in found and (parent == name or parent in found):
                found.add(child)
                changed = True
    return found


def delete_database(rng: random.Random, world: World, parents: dict[str, str | None]) -> str:
    for path in world.root.glob(".doit.sqlite3*"):
        path.unlink()
    return "doit's database deleted"


def remove_image(rng: random.Random, world: World, parents: dict[str, str | None]) -> str:
    name = rng.choice(sorted(parents))
    for image in {i for ref, i in world.daemon.tags.items() if ref.startswith(f"calvin/{name}:")}:
        world.daemon.remove_image(image)
    return f"images of {name} removed from the engine"


def fresh_machine(rng: random.Random, world: World, parents: dict[str, str | None]) -> str:
    """Registry only: a new machine with the same clone — empty engine, no database, no out/."""
    world.daemon.wipe()
    shutil.rmtree(world.root / "out", ignore_errors=True)
    return delete_database(rng, world, parents) + "; engine and out/ emptied: only the registry holds images"


EDITS: list[Callable[[random.Random, World, dict[str, str | None]], str]] = [
    edit_content, edit_content, edit_version, edit_tests, edit_description, edit_parent, delete_database,
    remove_image]


# -- the property ------------------------------------------------------------------------------------

def cases() -> Iterator[int]:
    yield from range(TREES)


@pytest.mark.parametrize("seed", list(cases()))
def test_the_plan_lists_exactly_the_steps_the_run_executes(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(seed)
    registry = seed % 2 == 1
    if registry:
        SERVERS[REGISTRY] = Server()
    try:
        root = tmp_path / "project"
        parents = generate(rng, root, registry)
        world = World(root, monkeypatch, capsys)
        history = [f"seed {seed}: {len(parents)} resources {parents}, registry {registry}"]
        edits = EDITS + ([fresh_machine] if registry else [])
        for number in range(EDITS_PER_TREE):
            history.append("first run" if number == 0 else rng.choice(edits)(rng, world, parents))
            will, blocked, last = world.plan()
            run = world.doit()
            story = "\n  ".join(history) + f"\nplan: {sorted(will)} blocked {sorted(blocked)}\n{run.output}"
            if blocked:
                # a releasing run with an unbumped change stops before building anything
                assert run.code != 0 and run.executed == set(), story
                assert "version not bumped" in last and "version not bumped" in run.output, story
            else:
                assert run.code == 0, story
                assert run.executed == will, story
                again, _, last_again = world.plan()
                assert again == set() and last_again.startswith("nothing to do"), story
    finally:
        SERVERS.pop(REGISTRY, None)


def test_the_plans_last_line_summarises_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    files: dict[str, str | bytes | Path] = {}
    for name, base in (("a", None), ("b", "a"), ("c", "b")):
        files.update(resource_files(name, base))
    root = make_project(tmp_path / "p", files, pipeline="namespace: calvin\n")
    world = World(root, monkeypatch, capsys)
    will, blocked, last = world.plan()
    assert last == "3 to build, 3 to test, 3 to release"
    assert world.doit().code == 0
    assert world.plan()[2] == "nothing to do: 3 resources up to date"
    (root / "resources" / "b" / "note.txt").write_text("changed\n")
    bump(root, "c")
    will, blocked, last = world.plan()
    assert blocked == {"release:b"}
    assert last == "2 to build, 2 to test, 1 to release, 1 blocked: version not bumped (b)"
    run = world.doit()
    assert run.executed == set() and run.code != 0
    assert "calvin: 2 ran" not in run.output
