"""Why a step runs: the inputs that changed since the image in the store.

Every build leaves a record of what its fingerprint covered — the files with their digests, the
build settings, the parent and its fingerprints, the version and the smoke-test files — in
`out/state/inputs/<name>/<build fingerprint>.json`. `why` compares the current inputs with the
record of the image the release store holds under the resource's version or, when that version
is not released, of the last image built here; a changed parent is explained by its own reasons.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from .files import write_atomic
from .model import TIMESTAMP, Entry, Project, Settings

RECORD_FORMAT = "calvin-inputs-1"
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
Record = Mapping[str, Any]
Recorded = Callable[[str, str], "Record | None"]  # (resource, build fingerprint) → its record


def _entry(entry: Entry) -> str:
    detail = entry.digest if entry.kind == "file" else entry.target
    return f"{entry.kind} {'x' if entry.executable else '-'} {detail}".rstrip()


def inputs_of(project: Project, name: str) -> dict[str, Any]:
    """What the resource's fingerprints cover now, as a record."""
    resource, fingerprints = project.resources[name], project.fingerprints[name]
    parent = project.parent(name)
    inputs = project.inputs[name]
    return {
        "format": RECORD_FORMAT,
        "resource": name,
        "version": resource.version,
        "fingerprints": {"build": fingerprints.build, "content": fingerprints.content, "test": fingerprints.test},
        "build": resource.build.settings(),
        "parent": None if parent is None else {"name": parent.name,
                                               "build": project.fingerprints[parent.name].build,
                                               "content": project.fingerprints[parent.name].content},
        "files": {e.path: _entry(e) for e in inputs.build},
        "tests": {e.path: _entry(e) for e in inputs.test},
    }


# -- records ------------------------------------------------------------------------------------

def records_dir(settings: Settings, name: str) -> Path:
    return settings.output / "state" / "inputs" / name


def remember(project: Project, name: str) -> None:
    """Record the inputs of the image just built (called by the build step)."""
    record = dict(inputs_of(project, name), built=datetime.now(timezone.utc).strftime(TIMESTAMP))
    path = records_dir(project.settings, name) / f"{project.fingerprints[name].build}.json"
    write_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def recorded(settings: Settings, name: str, fingerprint: str) -> Record | None:
    """The record of `name`'s image with this build fingerprint, if it was built here."""
    if not _FINGERPRINT.match(fingerprint):
        return None  # a label anyone can write is never a path
    return _read(records_dir(settings, name) / f"{fingerprint}.json")


def last_built(settings: Settings, name: str, *, besides: str = "") -> Record | None:
    """The record of the image of `name` built here most recently, other than fingerprint `besides`."""
    found = []
    for path in records_dir(settings, name).glob("*.json"):
        record = _read(path) if path.stem != besides else None
        if record is not None:
            found.append(((str(record.get("built", "")), path.stat().st_mtime_ns), record))
    return max(found, key=lambda pair: pair[0])[1] if found else None


def _read(path: Path) -> Record | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # never built here, or a damaged record: nothing to compare with
    return data if isinstance(data, dict) and data.get("format") == RECORD_FORMAT else None


# -- comparison (pure) -----------------------------------------------------------------------------

def _paths(paths: list[str], limit: int = 6) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _files(old: Mapping[str, str], new: Mapping[str, str], what: str) -> list[str]:
    found = []
    for label, paths in (("changed", [p for p in new if p in old and old[p] != new[p]]),
                         ("added", [p for p in new if p not in old]),
                         ("removed", [p for p in old if p not in new])):
        if paths:
            found.append(f"{what} {label}: {_paths(sorted(paths))}")
    return found


def _settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            keys += [f"{key}.{k}" for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
        else:
            keys.append(key)
    return [f"build settings changed: {', '.join(keys)}"] if keys else []


def changes(old: Record, new: Record, *, recorded: Recorded, current: Callable[[str], Record],
            own: bool = False) -> list[str]:
    """What differs between two records of one resource, in words. A changed parent is followed up
    the chain to the ancestor whose own inputs changed (`recorded` finds an ancestor's earlier
    record, `current` its record now). own=True: the resource's own build inputs only."""
    found = _files(old.get("files", {}), new.get("files", {}), "files")
    found += _settings(old.get("build", {}), new.get("build", {}))
    before, after = old.get("parent") or {}, new.get("parent") or {}
    if before.get("name") != after.get("name"):
        found.append(f"parent {before.get('name') or '(none)'} → {after.get('name') or '(none)'}")
    elif after and before.get("content") != after.get("content") and not own:
        found.append(_ancestry(before, after, recorded=recorded, current=current))
    if own:
        return found
    if old.get("version") != new.get("version"):
        found.append(f"version {old.get('version')} → {new.get('version')}")
    found += _files(old.get("tests", {}), new.get("tests", {}), "smoke tests")
    if not found and old.get("fingerprints") != new.get("fingerprints"):
        found.append("the fingerprints' format changed (a newer Calvin)")
    return found


def _ancestry(before: Record, after: Record, *, recorded: Recorded, current: Callable[[str], Record]) -> str:
    """'parent changed: scm ← curl ← root (files changed: Dockerfile)': each ancestor whose content
    moved, with its own changes; a parent's version is not its content and is left out."""
    steps = []
    while after and before.get("content") != after.get("content"):
        name = after["name"]
        earlier = recorded(name, before.get("build", ""))
        if earlier is None:
            steps.append(f"{name} (its earlier inputs were not recorded here)")
            break
        now = current(name)
        mine = changes(earlier, now, recorded=recorded, current=current, own=True)
        steps.append(f"{name} ({'; '.join(mine)})" if mine else name)
        before, after = earlier.get("parent") or {}, now.get("parent") or {}
        if before.get("name") != after.get("name"):
            break  # a new parent: named in `mine`
    return "parent changed: " + " ← ".join(steps)


# -- the answer ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """The current inputs against an earlier image's: which image, and what changed."""

    since: str          # the image compared with, in words; "" when there is none
    changes: tuple[str, ...]
    note: str = ""      # why the preferred image (the released one) could not be used

    def __str__(self) -> str:
        head = f"{self.note}; " if self.note else ""
        if not self.since:
            return self.note or "no earlier image of it was built here"
        if not self.changes:
            return f"{head}no input changed since {self.since}"
        return f"{head}since {self.since}: {'; '.join(self.changes)}"


def compare(project: Project, name: str, released: str | None = None) -> Answer:
    """The current inputs against the image the release store holds under the resource's version
    (`released`: its build fingerprint; None when that version is not released) or, failing
    that, the image of this resource built here last."""
    settings, version = project.settings, project.resources[name].version
    now = inputs_of(project, name)
    reference: Record | None = None
    since, note = "", ""
    if released is not None:
        reference = recorded(settings, name, released)
        since = f"{name}:{version} in the release store"
        if reference is None:
            note = f"{name}:{version} was released as fp-{released[:24]}, built elsewhere: its inputs were not recorded here"
    if reference is None:
        reference = last_built(settings, name, besides=now["fingerprints"]["build"])
        since = f"the image built here last ({reference.get('version')}, {reference.get('built')})" if reference else ""
    if reference is None:
        return Answer("", (), note)
    found = changes(reference, now, recorded=lambda n, fp: recorded(settings, n, fp),
                    current=lambda n: inputs_of(project, n))
    return Answer(since, tuple(found), note)


def explain(project: Project, name: str, released: str | None = None) -> str:
    """One line: what changed since the image in the store (for `doit plan` and `doit why`)."""
    return str(compare(project, name, released))


def _short(detail: str) -> str:
    kind, mode, *rest = detail.split(" ", 2)
    target = rest[0] if rest else ""
    return f"{kind} {mode} {target[:12] if kind == 'file' else target}".rstrip()


def describe(project: Project, name: str) -> dict[str, Any]:
    """The resource's inputs for `doit info`: fingerprints, parent, build settings, files."""
    record = inputs_of(project, name)
    parent = record["parent"]
    return {
        "version": record["version"],
        "fingerprints": {k: v[:24] for k, v in record["fingerprints"].items()},
        "parent": f"{parent['name']} (content {parent['content'][:24]})" if parent else None,
        "build settings": record["build"],
        "files": [f"{path}  {_short(detail)}" for path, detail in record["files"].items()],
        "smoke tests": [f"{path}  {_short(detail)}" for path, detail in record["tests"].items()],
    }
