"""`doit refresh`: which locked packages Debian's mirror serves newer, per resource; with --apply the
locks are rewritten and the affected resources (and what builds on them) get patch bumps, so the
next `doit` rebuilds exactly those, once each. An unchanged mirror changes nothing."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..bump import Bump, plan_bumps, write_bump
from ..model import Project
from .lock import Package, read_lock, write_lock
from .mirror import Available, Index, newer

CONTENT_CHANGED = "locked packages changed"  # never a fingerprint: a released version has other content


@dataclass(frozen=True)
class Update:
    resource: str
    package: Package
    available: Available
    own: bool  # False: the resource inherits the package from its parent's lock

    def row(self) -> str:
        mark = "security" if self.available.security else self.available.suite
        return (f"{self.resource:<20} {self.package.key:<32} {self.package.version:<24} → "
                f"{self.available.version:<24} {mark}")


def locks(project: Project) -> dict[str, dict[str, Package]]:
    found = {}
    for name in project.order:
        locked = read_lock(project.resources[name].folder)
        if locked is not None:
            found[name] = locked
    return found


def pending(project: Project, index: Index) -> list[Update]:
    """Every locked package with a newer version on the mirror, per resource, in build order."""
    all_locks = locks(project)
    updates = []
    for name, locked in all_locks.items():
        base = project.resources[name].base
        inherited = all_locks.get(base, {}) if base else {}
        for key, package in sorted(locked.items()):
            available = index.get(key)
            if available is not None and newer(package.version, available):
                own = key not in inherited or inherited[key].version != package.version
                updates.append(Update(name, package, available, own))
    return updates


def table(updates: list[Update]) -> list[str]:
    own = [u for u in updates if u.own]
    lines = [f"{'resource':<20} {'package':<32} {'locked':<24}   {'available':<24} suite"]
    lines += [u.row() for u in own]
    for name in dict.fromkeys(u.resource for u in updates if not u.own):
        count = sum(1 for u in updates if u.resource == name and not u.own)
        lines.append(f"{name:<20} (and {count} update(s) of packages its parent's lock holds)")
    security = sum(1 for u in own if u.available.security)
    lines.append(f"{len(own)} pending update(s), {security} security, in "
                 f"{len({u.resource for u in updates})} resource lock(s)")
    return lines


def apply(project: Project, updates: list[Update], released: Callable[[str], bool]) -> tuple[list[Path], list[Bump]]:
    """Rewrite each lock with the newer versions; bump each changed resource whose version is
    released, and (cascade) every released descendant."""
    all_locks = locks(project)
    written = []
    for name in dict.fromkeys(u.resource for u in updates):
        locked = dict(all_locks[name])
        for update in (u for u in updates if u.resource == name):
            old = update.package
            locked[old.key] = Package(old.name, update.available.version, old.arch, old.source)
        written.append(write_lock(project.resources[name].folder, locked))
    changed = [name for name in dict.fromkeys(u.resource for u in updates) if released(name)]
    bumps = plan_bumps(project, changed, part="patch", cascade=True,
                       released=lambda n: CONTENT_CHANGED if released(n) else None)
    for bump in bumps:
        write_bump(project.resources[bump.resource], bump)
    return written, bumps
