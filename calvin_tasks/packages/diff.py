"""Packages added, removed and changed between two package sets (two released versions' SBOMs):
Debian packages (name:arch) and pip's wheels (pypi:name)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..bump import _SEMVER
from ..model import Settings
from .lock import Package
from .sbom import SUFFIX, read_components, sbom_facts, sbom_folder, sbom_path
from .wheels import Wheel

Item = Package | Wheel


@dataclass(frozen=True)
class PackageDiff:
    added: tuple[Item, ...]
    removed: tuple[Item, ...]
    changed: tuple[tuple[Item, Item], ...]  # (old, new)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        rows = [f"+ {p.key} {p.version}" for p in self.added]
        rows += [f"- {p.key} {p.version}" for p in self.removed]
        rows += [f"~ {old.key} {old.version} → {new.version}" for old, new in self.changed]
        return rows

    def as_json(self) -> dict[str, list[str]]:
        return {"added": [f"{p.key}@{p.version}" for p in self.added],
                "removed": [f"{p.key}@{p.version}" for p in self.removed],
                "changed": [f"{o.key}@{o.version}→{n.version}" for o, n in self.changed]}


def diff(old: Mapping[str, Item], new: Mapping[str, Item]) -> PackageDiff:
    return PackageDiff(added=tuple(new[k] for k in sorted(set(new) - set(old))),
                       removed=tuple(old[k] for k in sorted(set(old) - set(new))),
                       changed=tuple((old[k], new[k]) for k in sorted(set(old) & set(new))
                                     if old[k].version != new[k].version))


def _order(version: str) -> tuple[int, int, int, int, str]:
    match = _SEMVER.match(version)
    if match is None:
        return (-1, 0, 0, 0, version)
    pre = match.group(4) or ""
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)), 0 if pre else 1, pre)


def versions_with_sbom(settings: Settings, name: str) -> list[str]:
    """The versions of `name` with an SBOM here, oldest first (semantic version order)."""
    try:
        names = os.listdir(sbom_folder(settings, name))  # (Path.glob costs a no-op run more)
    except OSError:
        return []
    return sorted((n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX)), key=_order)


def previous_version(settings: Settings, name: str, version: str) -> str | None:
    older = [v for v in versions_with_sbom(settings, name) if _order(v) < _order(version)]
    return older[-1] if older else None


def sbom_of(settings: Settings, name: str, version: str) -> Path:
    return sbom_path(settings, name, version)


def package_facts(settings: Settings, name: str, version: str) -> dict[str, Any] | None:
    """For the manifest: package count and SBOM digest, and the release notes — the packages
    added, removed and changed since the previous version with an SBOM."""
    facts = sbom_facts(settings, name, version)
    if facts is None:
        return None
    before = previous_version(settings, name, version)
    if before is not None:
        changes = diff(read_components(sbom_path(settings, name, before)),
                       read_components(sbom_path(settings, name, version)))
        facts["changes_since"] = {"version": before, **changes.as_json()}
    return facts
