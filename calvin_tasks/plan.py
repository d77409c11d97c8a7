"""One place decides what a run does: the state gathered once, then each step — needed or not,
and why. doit's up-to-date checks, `doit plan`, the gate before a releasing run and the closing
summary all read these decisions; nothing else re-derives them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from . import results
from .engine import Engine
from .model import Project
from .store import ReleaseStore, content_reference, image_for, in_store, tested_in_store, tested_tag

STAGES = ("build", "test", "release")
NOT_BUMPED = "version not bumped"


@dataclass(frozen=True)
class State:
    """What the engine, the release store and this machine's records hold, per resource."""

    built: Mapping[str, str]            # name → where its current image is: "engine" | "release store"
    tested: Mapping[str, str]           # name → where its pass is recorded: "this machine" | "release store"
    released: Mapping[str, str | None]  # name → fingerprint under <name>:<version>; None: not released
    marked: frozenset[str]              # the release store marks the current image tested with these tests


def gather(project: Project, engine: Engine, store: ReleaseStore) -> State:
    """Ask the engine and the store once per resource (in parallel where the engine allows)."""
    engine.prefetch([content_reference(project, name) for name in project.order])
    built: dict[str, str] = {}
    tested: dict[str, str] = {}
    released: dict[str, str | None] = {}
    marked: set[str] = set()
    registry = bool(project.settings.registry)
    for name in project.order:
        image = image_for(project, engine, name)
        if image is not None:
            built[name] = "engine"
        elif registry and in_store(project, store, name):
            built[name] = "release store"
        is_marked = tested_in_store(project, store, name)
        if is_marked:
            marked.add(name)
        if image is not None and results.passed(project.settings, name, image, project.fingerprints[name]):
            tested[name] = "this machine"
        elif is_marked:
            tested[name] = "release store"
        found = store.released(name, project.resources[name].version)
        released[name] = found.fingerprint if found is not None else None
    return State(built, tested, released, frozenset(marked))


@dataclass(frozen=True)
class Decision:
    resource: str
    stage: str          # build | test | release
    needed: bool
    reason: str
    blocked: str = ""   # why a needed step must not run (NOT_BUMPED), else ""

    @property
    def task(self) -> str:
        return f"{self.stage}:{self.resource}"


class Plan:
    """Every step's decision, in build order."""

    def __init__(self, decisions: Iterable[Decision]) -> None:
        self.decisions = tuple(decisions)
        self._by_task = {d.task: d for d in self.decisions}

    def __getitem__(self, task: str) -> Decision:
        return self._by_task[task]

    def blocked(self, resources: Iterable[str] | None = None) -> list[Decision]:
        wanted = None if resources is None else set(resources)
        return [d for d in self.decisions if d.blocked and (wanted is None or d.resource in wanted)]

    def needed(self) -> list[Decision]:
        return [d for d in self.decisions if d.needed]

    def summary(self) -> str:
        """'4 to build, 4 to test, 3 to release, 1 blocked: version not bumped (curl)'."""
        counts = [f"{sum(1 for d in self.decisions if d.needed and not d.blocked and d.stage == stage)} to {stage}"
                  for stage in STAGES]
        blocked = self.blocked()
        if blocked:
            counts.append(f"{len(blocked)} blocked: {NOT_BUMPED} ({', '.join(d.resource for d in blocked)})")
        if not self.needed():
            return f"nothing to do: {len(self.decisions) // len(STAGES)} resources up to date"
        return ", ".join(counts)


def decide(project: Project, state: State) -> Plan:
    """Each resource's build, test and release: needed or not, and why."""
    decisions: list[Decision] = []
    for name in project.order:
        fingerprints = project.fingerprints[name]
        tag = fingerprints.content_tag
        where = state.built.get(name)
        build = where is None
        decisions.append(Decision(name, "build", build, f"no image {tag}: its inputs changed, or it was never built"
                                  if build else f"image {tag} is in the {where}"))
        passed = state.tested.get(name)
        test = build or passed is None
        decisions.append(Decision(name, "test", test, "a new image" if build else
                                  f"no pass of these tests ({tested_tag(fingerprints.test)}) for this image"
                                  if test else f"passed these tests (recorded on {passed})"))
        decisions.append(_release(project, state, name))
    return Plan(decisions)


def _release(project: Project, state: State, name: str) -> Decision:
    version = project.resources[name].version
    fingerprint = project.fingerprints[name].build
    released = state.released.get(name)
    if released is None:
        return Decision(name, "release", True, f"{version} is not released yet")
    if released != fingerprint:
        return Decision(name, "release", True, f"{NOT_BUMPED}: {name}:{version} is released with fingerprint "
                        f"{released[:24]}, the resource now has {fingerprint[:24]} — bump the version",
                        blocked=NOT_BUMPED)
    if name not in state.marked:
        return Decision(name, "release", True, f"{version} is released; the pass of these tests is not "
                        "marked in the release store yet")
    return Decision(name, "release", False, f"{version} is released with this fingerprint, marked tested")
