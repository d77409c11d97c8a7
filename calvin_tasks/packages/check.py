"""After each build: the image's real package set (Debian packages and pip's wheels) against the
resource's packages.lock.

A build whose image differs from its lock fails, naming the packages, and its content tag is
removed (the next run builds again instead of trusting it). A first build without a lock writes
the lock from the image and says so (returns True): the lock is an input like any other file, so
the build step then builds the resource once more, from the lock (tasks/pipeline.py).
"""
from __future__ import annotations

from ..engine import Engine, Output
from ..errors import StepFailed, display_path
from ..progress import say
from ..model import LABEL_NAMESPACE, LABEL_RESOURCE, Project
from .inventory import read_inventory
from .lock import LOCK_FILE, differences, read_lock, read_locked_wheels, write_lock
from .wheels import read_wheels

SHOWN = 12  # differences named in the message; the rest are counted


def check_packages(project: Project, engine: Engine, name: str, image: str, reference: str,
                   output: Output) -> bool:
    """Check the image against the lock; True when there was no lock and this wrote it."""
    resource = project.resources[name]
    labels = {LABEL_NAMESPACE: project.settings.namespace, LABEL_RESOURCE: name}
    actual = read_inventory(engine, image, labels)
    wheels = read_wheels(engine, image, labels) if actual else {}  # pip's wheels sit on a Debian system
    locked = read_lock(resource.folder)
    counted = f"{len(actual)} packages" + (f", {len(wheels)} wheels" if wheels else "")
    if locked is None:
        if actual:
            path = write_lock(resource.folder, actual, wheels=wheels)
            say(f"{name}: wrote {display_path(path)} ({counted}, read from the image): commit it; "
                f"it is an input, so {name} is built once more, from the lock")
        return bool(actual)
    debs = differences(locked, actual)
    found = debs + differences(read_locked_wheels(resource.folder), wheels)  # wheels named pypi:<name>
    if not found:
        say(f"{name}: package set matches {LOCK_FILE} ({counted})")
        return False
    engine.remove_image(reference)
    listed = "; ".join(found[:SHOWN]) + (f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else "")
    stale = any(" in the image, " in line for line in debs)
    hint = (" — the mirror no longer serves the locked versions: run doit refresh" if stale
            else " — fix the resource, or delete the lock to write it anew from the next build")
    raise StepFailed(f"the image of {name} differs from {display_path(resource.folder / LOCK_FILE)} in "
                     f"{len(found)} package(s): {listed}{hint}")
