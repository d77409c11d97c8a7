"""Pure: the project and what exists → what a run would do, and why."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .model import Project


@dataclass(frozen=True)
class State:
    """What the engine and the release store hold, gathered by the caller."""

    built: frozenset[str]
    tested: frozenset[str]
    released: Mapping[str, str | None]  # name → fingerprint under <name>:<version>, None when unreleased


@dataclass(frozen=True)
class Step:
    resource: str
    stage: str  # build | test | release
    needed: bool
    reason: str


def plan(project: Project, state: State) -> list[Step]:
    """Each resource's build, test and release, in build order, with the reason for each."""
    steps: list[Step] = []
    for name in project.order:
        fingerprints = project.fingerprints[name]
        short = fingerprints.build[:12]
        build = name not in state.built
        steps.append(Step(name, "build", build, f"no image with fingerprint {short}" if build
                          else f"image with fingerprint {short} exists"))
        test = build or name not in state.tested
        steps.append(Step(name, "test", test, "new image" if build else
                          (f"tests changed or not yet passed ({fingerprints.test[:12]})" if test else "passed")))
        released = state.released.get(name)
        version = project.resources[name].version
        if released is None:
            steps.append(Step(name, "release", True, f"{version} is not released yet"))
        elif released == fingerprints.build:
            steps.append(Step(name, "release", False, f"{version} is released with this fingerprint"))
        else:
            steps.append(Step(name, "release", True, f"version not bumped: {version} is released with "
                              f"fingerprint {released[:12]}, the resource now has {short} — bump the version"))
    return steps
