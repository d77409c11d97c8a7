"""Packages added, removed and changed between two package sets (two released versions' SBOMs):
Debian packages (name:arch) and pip's wheels (pypi:name)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..model import Settings
from .lock import Package
from .sbom import read_components, sbom_path
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


def changes_since(settings: Settings, name: str, before: str, version: str) -> dict[str, Any]:
    """For the manifest's release notes: the packages added, removed and changed since `before`."""
    changes = diff(read_components(sbom_path(settings, name, before)),
                   read_components(sbom_path(settings, name, version)))
    return {"version": before, **changes.as_json()}
