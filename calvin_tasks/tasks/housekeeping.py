"""Housekeeping tasks: `doit gc` removes Calvin's superseded, unreleased images."""
from __future__ import annotations

from typing import Any

from .reporter import say
from .run import Run, current
from .steps import step


def _gc(run: Run) -> None:
    from .. import housekeeping  # loaded by `doit gc` only
    run.engine.ping()
    housekeeping.collect(run.project, run.engine, run.store, say)


def task_gc() -> dict[str, Any]:
    """Remove this namespace's superseded, unreleased images; keep released versions and the current
    fingerprints. Never part of a plain `doit`."""
    run = current()
    return {"actions": [step(_gc, run)], "verbosity": 2, "uptodate": [False],
            "doc": "remove superseded, unreleased images of this namespace and say how much space it freed"}
