"""Release history a person can read: every released version of each resource, from the release
store (the registry when one is configured), and which environments run it."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import CalvinError
from ..model import Project, version_order
from ..store import ReleaseStore
from . import pins as pinning

VERSION = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Entry:
    resource: str
    version: str
    created: str
    fingerprint: str
    digest: str
    tested: bool
    environments: tuple[str, ...]


def history(project: Project, store: ReleaseStore, resources: list[str]) -> list[Entry]:
    unknown = [name for name in resources if name not in project.resources]
    if unknown:
        raise CalvinError(f"no such resource: {', '.join(unknown)} (resources: {', '.join(project.order)})")
    deployed: dict[tuple[str, str], list[str]] = {}
    for environment in project.environments:
        try:
            pinned = pinning.read(project.settings.root, environment.name)
        except CalvinError:
            continue  # never pinned
        for pin in pinned.values():
            deployed.setdefault((pin.resource, pin.digest), []).append(environment.name)
    entries = []
    for name in resources or list(project.order):
        for version in sorted((t for t in store.tags(name) if VERSION.match(t)), key=version_order):
            found = store.released(name, version)
            if found is None:
                continue
            labels = store.labels(name, version)
            entries.append(Entry(name, version, labels.get("org.opencontainers.image.created", "?"),
                                 found.fingerprint or "?", found.digest, store.marked(name, found.digest),
                                 tuple(sorted(deployed.get((name, found.digest), [])))))
    return entries


def table(entries: list[Entry]) -> list[str]:
    rows = [("resource", "version", "released", "fingerprint", "digest", "tests", "environments")]
    rows += [(e.resource, e.version, e.created, e.fingerprint[:12], e.digest[:19], "passed" if e.tested else "—",
              ", ".join(e.environments) or "—") for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
