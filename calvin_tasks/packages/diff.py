"""Packages added, removed and changed between two package sets (two released versions' SBOMs)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bump import _SEMVER
from ..model import Settings
from .lock import Package, Packages
from .sbom import SUFFIX, read_packages, sbom_facts, sbom_path


@dataclass(frozen=True)
class PackageDiff:
    added: tuple[Package, ...]
    removed: tuple[Package, ...]
    changed: tuple[tuple[Package, Package], ...]  # (old, new)

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


def diff(old: Packages, new: Packages) -> PackageDiff:
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
    folder = sbom_path(settings, name, "x").parent
    found = [p.name[: -len(SUFFIX)] for p in folder.glob("*" + SUFFIX)] if folder.is_dir() else []
    return sorted(found, key=_order)


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
        changes = diff(read_packages(sbom_path(settings, name, before)), read_packages(sbom_path(settings, name, version)))
        facts["changes_since"] = {"version": before, **changes.as_json()}
    return facts
