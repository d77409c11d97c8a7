"""New versions: `doit bump <r> [--part patch|minor|major] [--cascade]`.

A version is edited where it is written — the one scalar on the line resource.yaml has it on —
so the file's comments, quoting and layout stay as the person left them. With cascade, every
descendant whose current version is released with other content (its content moved with its
parent's) gets a patch bump too: one command, then one run that builds and releases them all.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from .errors import InputError, Problem
from .files import write_atomic
from .graph import ancestors
from .model import SEMVER, VERSION_PARTS, Project, Resource

CASCADE_PART = "patch"  # a descendant's own inputs did not change: only what it builds on did


def next_version(version: str, part: str) -> str:
    """1.2.3 → 1.2.4 | 1.3.0 | 2.0.0; a pre-release goes to its release (1.3.0-rc.1 patch → 1.3.0),
    as semantic versioning orders them."""
    match = SEMVER.match(version)
    if match is None or part not in VERSION_PARTS:
        raise ValueError(f"cannot bump the {part} of '{version}'")
    major, minor, patch = (int(match.group(i)) for i in (1, 2, 3))
    pre = match.group(4)
    if part == "major":
        return f"{major}.0.0" if pre and minor == 0 and patch == 0 else f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor}.0" if pre and patch == 0 else f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch}" if pre else f"{major}.{minor}.{patch + 1}"


def edit_version(text: str, line: int, old: str, new: str) -> str | None:
    """`text` with the version scalar on `line` (1-based) changed from old to new, everything else
    byte for byte; None when that line does not hold `version: <old>` in a form we can edit."""
    rows = text.splitlines(keepends=True)
    if not 1 <= line <= len(rows):
        return None
    pattern = re.compile(r"^(\s*version\s*:\s*)(['\"]?)" + re.escape(old) + r"\2(?=\s|#|$)")
    edited, count = pattern.subn(lambda m: f"{m.group(1)}{m.group(2)}{new}{m.group(2)}", rows[line - 1], count=1)
    if count != 1:
        return None
    rows[line - 1] = edited
    return "".join(rows)


@dataclass(frozen=True)
class Bump:
    resource: str
    old: str
    new: str
    why: str  # "asked" | "parent <name> bumped"

    def __str__(self) -> str:
        return f"{self.resource}: {self.old} → {self.new}"


def plan_bumps(project: Project, names: Iterable[str], *, part: str, cascade: bool,
               released: Callable[[str], str | None]) -> list[Bump]:
    """The bumps of `names` and, with cascade, of the descendants that need one: those whose
    current version is released (`released(name)` → its fingerprint) with other content. A
    descendant whose version is not released yet, or released with these very inputs, is left."""
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in project.resources]
    if unknown:
        raise InputError([Problem("doit bump", f"no resource named '{n}'", hint=_known(project)) for n in unknown])
    asked = set(wanted)
    bumps: dict[str, Bump] = {}
    for name in project.order:  # build order: parents are listed (and written) first
        resource = project.resources[name]
        if name in asked:
            bumps[name] = Bump(name, resource.version, next_version(resource.version, part), "asked")
        elif cascade:
            parent = next((a for a in ancestors(project.resources, name) if a in asked), None)
            fingerprint = released(name) if parent else None
            if parent and fingerprint is not None and fingerprint != project.fingerprints[name].build:
                bumps[name] = Bump(name, resource.version, next_version(resource.version, CASCADE_PART),
                                   f"parent {parent} bumped")
    return list(bumps.values())


def _known(project: Project) -> str:
    return "resources: " + ", ".join(sorted(project.resources))


def write_bump(resource: Resource, bump: Bump) -> None:
    """Edit resource.yaml in place (atomically, keeping the file's mode)."""
    path = resource.source
    line = resource.line_of("version")
    text = path.read_text(encoding="utf-8")
    edited = edit_version(text, line, bump.old, bump.new)
    if edited is None:
        raise InputError([Problem(resource.display or str(path), f"cannot find 'version: {bump.old}' to edit",
                                  line=line, resource=resource.name, key_path="version",
                                  hint=f"set it to {bump.new} by hand")])
    mode = path.stat().st_mode & 0o7777
    write_atomic(path, edited)
    os.chmod(path, mode)


def bump_command(project: Project, names: Iterable[str]) -> str:
    """The one command that gives every listed resource a new version: the topmost listed resources
    (no listed ancestor), with --cascade when listed descendants follow them."""
    listed = list(dict.fromkeys(names))
    tops = [n for n in listed if not any(a in listed for a in ancestors(project.resources, n))]
    return "doit bump " + " ".join(tops) + (" --cascade" if len(tops) < len(listed) else "")
