"""The release manifest: per resource what its version tag holds, what this run did to it, and
what is pending.

An entry's `reference`, `fingerprint`, `image_id` and `digest` are those of the image the
version tag holds — never the current image while it is unreleased (a failed or blocked
release); that one is listed under `pending`. `action` says whether this run released the
version, carried over one released before, or left it unreleased.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from .engine import Engine, ImageInfo
from .errors import CalvinError
from .files import write_atomic
from .model import TIMESTAMP, Project
from .packages.facts import package_facts
from .plan import Plan
from .results import Earlier, earlier_pass, hostname, read_summary, reused_report, write_reused_reports
from .revision import source_revision
from .store import Released, ReleaseStore, image_for, tested_tag

RELEASED, CARRIED_OVER, NOT_RELEASED, UNKNOWN = "released", "carried over", "not released", "unknown"
UNMARKED = "is released; "  # how the plan says a version holds this content but lacks its tested mark
LABEL_CREATED = "org.opencontainers.image.created"
LABEL_REVISION = "org.opencontainers.image.revision"

_manifest_lock = threading.Lock()


@dataclass(frozen=True)
class RunFacts:
    """What the run's plan found at its start, per resource."""

    tested_before: frozenset[str] = frozenset()    # the test step was up to date: the pass is re-used
    released_before: frozenset[str] = frozenset()  # the version tag already held the current fingerprint

    @classmethod
    def from_plan(cls, project: Project, plan: Plan) -> RunFacts:
        tested, released = set(), set()
        for decision in plan.decisions:
            name = decision.resource
            if name not in project.resources:
                continue
            if decision.stage == "test" and not decision.needed:
                tested.add(name)
            # a needed release of a version already released with this content only adds the
            # tested marks (plan.release_status: "unmarked", "… is released; the pass … not marked")
            if decision.stage == "release" and (not decision.needed or (
                    not decision.blocked and UNMARKED in decision.reason)):
                released.add(name)
        return cls(frozenset(tested), frozenset(released))


def report_earlier_passes(project: Project, engine: Engine, store: ReleaseStore, facts: RunFacts) -> list[Path]:
    """JUnit and JSON reports for each resource whose tests passed in an earlier run."""
    written = []
    for name in project.order:
        if name not in facts.tested_before:
            continue
        fingerprints = project.fingerprints[name]
        image = image_for(project, engine, name)
        current = reused_report(project.settings, name, image or "", fingerprints)
        if current is not None:  # the reports already say so: nothing to write
            written.append(current)
            continue
        earlier = earlier_pass(project.settings, name, image, fingerprints) if image else None
        if earlier is None:
            reference = f"{project.resources[name].repository(project.settings.namespace)}:{tested_tag(fingerprints)}"
            earlier = Earlier(f"the tested mark {reference} in the release store")
        _, junit = write_reused_reports(project.settings, project.resources[name],
                                        image or "", fingerprints, earlier)
        written.append(junit)
    return written


def _smoke_tests(project: Project, name: str) -> dict[str, Any] | None:
    """The summary of the current image's current tests: run in this run, or re-used (when, where)."""
    summary = read_summary(project.settings, name)
    fingerprints = project.fingerprints[name]
    if summary is None or summary.get("build_fingerprint") != fingerprints.build \
            or summary.get("test_fingerprint") != fingerprints.test:
        return None
    reused = summary.get("reused")
    found = {"passed": summary.get("passed"), **summary.get("counts", {}), "this_run": not reused}
    if reused:
        return {**found, "time": reused.get("time"), "host": reused.get("host"), "where": reused.get("where")}
    return {**found, "time": summary.get("time"), "host": summary.get("host")}


def _image_facts(engine: Engine, image_id: str | None) -> dict[str, Any]:
    """Size, build duration and source revision, read from the image itself in the engine."""
    info: ImageInfo | None = None
    if image_id:
        try:
            info = engine.find(image_id)
        except CalvinError:
            info = None
    if info is None:
        return {"size": None, "build_seconds": None, "source_revision": None}
    return {"size": info.size or None, "build_seconds": build_seconds(info),
            "source_revision": info.labels.get(LABEL_REVISION)}


def build_seconds(info: ImageInfo) -> float | None:
    """From the created label (set as the build starts, whole seconds) to the engine's creation
    time of the image (its last layer): the build's duration, carried by the image itself."""
    started = _parse(info.labels.get(LABEL_CREATED, ""))
    finished = _parse(info.created)
    if started is None or finished is None or finished < started:
        return None
    return round((finished - started).total_seconds(), 1)


def _parse(text: str) -> datetime | None:
    """An RFC 3339 time (the engine's has nanoseconds: Python keeps microseconds); None if it is not one."""
    try:
        moment = datetime.fromisoformat(text)  # (strptime costs a no-op run)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def manifest_entry(project: Project, engine: Engine, store: ReleaseStore, name: str,
                   facts: RunFacts | None = None, packages: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the manifest says of one resource; `packages`: package_facts for the project's versions."""
    resource = project.resources[name]
    fingerprints = project.fingerprints[name]
    facts = facts or RunFacts()
    released: Released | None
    try:
        released = store.released(name, resource.version)
        store_error = None
    except CalvinError as err:  # the registry went away: say so in the manifest, keep the rest
        released, store_error = None, str(err)
    current = released is not None and released.fingerprint == fingerprints.build
    if store_error:
        action = UNKNOWN
    elif not current:
        action = NOT_RELEASED
    else:
        action = CARRIED_OVER if name in facts.released_before else RELEASED
    parent = project.parent(name)
    smoke = _smoke_tests(project, name)
    entry: dict[str, Any] = {
        "resource": name,
        "version": resource.version,
        "group": resource.group,
        "action": action,
        "released_by_this_run": action == RELEASED,
        "released": current,
        "reference": released.reference if released else None,
        "fingerprint": released.fingerprint if released else None,
        "test_fingerprint": fingerprints.test if current else None,
        "image_id": released.image or None if released else None,
        "digest": released.digest or None if released else None,
        **_image_facts(engine, released.image if released else None),
        "parent": parent.name if parent else None,
        "parent_fingerprint": project.fingerprints[parent.name].build if parent else None,
        "smoke_tests": smoke if current else None,
        "packages": (packages or {}).get(name) if current else None,
        "pending": None,
    }
    if store_error:
        entry["store_error"] = store_error
    if not current:
        image = image_for(project, engine, name)
        entry["pending"] = {"fingerprint": fingerprints.build, "test_fingerprint": fingerprints.test,
                            "content_tag": fingerprints.content_tag, "image": image,
                            **_image_facts(engine, image), "smoke_tests": smoke}
    return entry


def write_manifest(project: Project, engine: Engine, store: ReleaseStore, facts: RunFacts | None = None) -> Path:
    """out/releases/<time>.json for this run, and out/releases/latest.json."""
    now = datetime.now(timezone.utc)
    revision = source_revision(project.settings.root)
    packages = package_facts(project.settings, [(name, project.resources[name].version) for name in project.order])
    document = {
        "time": now.strftime(TIMESTAMP),
        "host": hostname(),
        "namespace": project.settings.namespace,
        "registry": project.settings.registry,
        "source": revision.as_json() if revision else None,
        "resources": [manifest_entry(project, engine, store, name, facts, packages) for name in project.order],
    }
    folder = project.settings.output / "releases"
    path = folder / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    latest = folder / "latest.json"
    try:
        previous = json.loads(latest.read_text())
    except (OSError, ValueError):
        previous = {}
    if {k: v for k, v in previous.items() if k != "time"} == {k: v for k, v in document.items() if k != "time"}:
        return latest
    text = json.dumps(document, indent=2) + "\n"  # (indented JSON is encoded in Python: only when written)
    with _manifest_lock:
        write_atomic(path, text)
        write_atomic(folder / "latest.json", text)
    return path
