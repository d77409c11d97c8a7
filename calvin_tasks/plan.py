"""One place decides what a run does: the state gathered once, then each step — needed or not,
and why. doit's up-to-date checks, `doit plan`, the gate before a releasing run and the closing
summary all read these decisions; nothing else re-derives them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from . import ledger, results
from .engine import Engine
from .model import Project
from .store import ReleaseStore, Shelf, content_reference, image_for, shelf, tested_tag

STAGES = ("build", "test", "release")
NOT_BUMPED = "version not bumped"
MOVED = "tag moved"


@dataclass(frozen=True)
class State:
    """What the engine, the release store and this machine's records hold, per resource."""

    built: Mapping[str, str]            # name → where its current image is: "engine" | "release store"
    tested: Mapping[str, str]           # name → where its pass is recorded: "this machine" | "release store"
    shelves: Mapping[str, Shelf]        # name → what the release store holds for it
    ledger: Mapping[str, str]           # name → the digest this machine's record says Calvin released
                                        # (read only where the version tag is not the content tag)


def gather(project: Project, engine: Engine, store: ReleaseStore) -> State:
    """Ask the engine and the store once per resource (in parallel where the engine allows)."""
    engine.prefetch([content_reference(project, name) for name in project.order])
    built: dict[str, str] = {}
    tested: dict[str, str] = {}
    shelves: dict[str, Shelf] = {}
    records: dict[str, str] = {}
    registry = bool(project.settings.registry)
    for name in project.order:
        found = shelves[name] = shelf(project, store, name)
        image = image_for(project, engine, name)
        if image is not None:
            built[name] = "engine"
        elif registry and found.content is not None:
            built[name] = "release store"
        if image is not None and results.passed(project.settings, name, image, project.fingerprints[name]):
            tested[name] = "this machine"
        elif found.content is not None and found.tested is not None and found.tested.digest == found.content.digest:
            tested[name] = "release store"
        version = found.version
        if version is not None and (found.content is None or found.content.digest != version.digest):
            # the one case release_status weighs this machine's record: the version tag is not the content tag
            digest = ledger.released_digest(project.settings, name, project.resources[name].version)
            if digest:
                records[name] = digest
    return State(built, tested, shelves, records)


def _explain(project: Project, name: str, released: str | None) -> str:
    from .why import explain  # loaded when there is something to build: a no-op run explains nothing

    return explain(project, name, released)


def release_status(found: Shelf, fingerprint: str, recorded: str | None = None) -> tuple[str, str]:
    """What the store's tags say about a resource's release, judged by digests, never by labels:
    unreleased | released | unmarked (released, tests not marked) | not-bumped | moved; and why.

    A version tag is Calvin's release when its digest is the content tag's, or the tested mark's
    (Calvin marks only what it tested), or the one this machine recorded pushing; a content tag
    holding another build of the same inputs (a forced rebuild) does not unmake a release."""
    version = found.version
    if version is None:
        return "unreleased", "is not released yet"
    marked = found.tested is not None and found.tested.digest == version.digest
    claimed = version.fingerprint or ""
    ours = (found.content is not None and version.digest == found.content.digest) or (
        claimed == fingerprint and (marked or version.digest == recorded))
    if ours:
        if marked:
            return "released", "is released with this fingerprint, marked tested"
        return "unmarked", "is released; the pass of these tests is not marked in the release store yet"
    if claimed != fingerprint and found.older is not None and found.older.digest == version.digest:
        return "not-bumped", (f"is released with fingerprint {claimed[:24]}, the resource now has "
                              f"{fingerprint[:24]} — bump the version")
    was = recorded or (found.older.digest if found.older is not None else "") or (
        found.content.digest if found.content is not None and claimed == fingerprint else "")
    return "moved", (f"now points at {version.digest or version.image} which Calvin did not release; the release "
                     f"was {was or 'not recorded on this machine'} — restore the tag, or release a new version")


@dataclass(frozen=True)
class Decision:
    resource: str
    stage: str          # build | test | release
    needed: bool
    reason: str
    blocked: str = ""   # why the step must not run (NOT_BUMPED, MOVED), else ""

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
        for why in (NOT_BUMPED, MOVED):
            blocked = [d.resource for d in self.blocked() if d.blocked == why]
            if blocked:
                counts.append(f"{len(blocked)} blocked: {why} ({', '.join(blocked)})")
        if not self.needed():
            return f"nothing to do: {len(self.decisions) // len(STAGES)} resources up to date"
        return ", ".join(counts)


def decide(project: Project, state: State) -> Plan:
    """Each resource's build, test and release: needed or not, and why."""
    decisions: list[Decision] = []
    moved: set[str] = set()
    for name in project.order:
        fingerprints = project.fingerprints[name]
        tag = fingerprints.content_tag
        where = state.built.get(name)
        build = where is None
        released = state.shelves[name].version
        decisions.append(Decision(name, "build", build, f"no image {tag}: "
                                  + _explain(project, name, released.fingerprint if released else None)
                                  if build else f"image {tag} is in the {where}"))
        passed = state.tested.get(name)
        test = build or passed is None
        decisions.append(Decision(name, "test", test, "a new image" if build else
                                  f"no pass of these tests ({tested_tag(fingerprints)}) for this image"
                                  if test else f"passed these tests (recorded on {passed})"))
        decision = _release(project, state, name)
        base = project.resources[name].base
        if not decision.blocked and base in moved:
            # nothing is released on a parent whose release tag was moved, until a person acts
            decision = Decision(name, "release", True, f"its base {base} is blocked: {MOVED}", blocked=MOVED)
        if decision.blocked == MOVED:
            moved.add(name)
        decisions.append(decision)
    return Plan(decisions)


def _release(project: Project, state: State, name: str) -> Decision:
    resource = project.resources[name]
    status, why = release_status(state.shelves[name], project.fingerprints[name].build, state.ledger.get(name))
    reason = f"{name}:{resource.version} {why}"
    if status == "not-bumped":
        return Decision(name, "release", True, f"{NOT_BUMPED}: {reason}", blocked=NOT_BUMPED)
    if status == "moved":
        return Decision(name, "release", True, f"{MOVED}: {project.settings.namespace}/{reason}", blocked=MOVED)
    return Decision(name, "release", status != "released", reason)
