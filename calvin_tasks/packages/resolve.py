"""A first build without a packages.lock resolves it: the build writes the lock from its image
(check.py), and since the lock is an input, the resource's fingerprint — and its descendants' —
change with it. The build step then builds the resource once more, from its lock, under the new
fingerprint, and the run goes on with the project as its files now are: what the run tests and
releases carries the fingerprint its folder has, and the next run has nothing to do.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from ..context import walk
from ..engine import Engine
from ..fingerprint import fingerprint_all
from ..model import Project
from ..store import content_reference
from .lock import LOCK_FILE, lock_path


def relocked(project: Project, name: str) -> Project | None:
    """The project once `name`'s lock exists, when the run's project was walked before it did: the
    folder walked again, every fingerprint anew (only the resource's and its descendants' change);
    None when nothing changed (no lock yet, or the lock was there all along)."""
    if not lock_path(project.resources[name].folder).is_file():
        return None
    if any(entry.path == LOCK_FILE for entry in project.inputs[name].build):
        return None
    inputs = {**project.inputs, name: walk(project.resources[name])}
    now = dataclasses.replace(project, inputs=inputs,
                              fingerprints=fingerprint_all(project.resources, project.order, inputs))
    return None if now.fingerprints[name] == project.fingerprints[name] else now


def resolved(project: Project, engine: Engine, name: str, image: str, say: Callable[[str], None],
             build: Callable[[Project], str]) -> tuple[Project, str, str]:
    """After a build of `name`: when it wrote the lock (there was none), build again from it (`build`)
    under the new fingerprint and remove the lock-less image (no folder has its inputs now: kept,
    it would stop a build after the lock is deleted). Returns the project, the image, its tag."""
    reference = content_reference(project, name)
    now = relocked(project, name)
    if now is None:
        return project, image, reference
    again = content_reference(now, name)
    say(f"{name:>20} | building {name} again from its new packages.lock, as {again}")
    image = build(now)
    engine.remove_image(reference)
    return now, image, again
