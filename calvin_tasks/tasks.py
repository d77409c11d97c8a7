"""The only module that knows doit: task creators derived from resources/.

    doit                 validate, build what changed (parents first), test, release
    doit list            each resource with its group, version and description
    doit <resource>      one resource and what it builds on
"""
from __future__ import annotations

import time
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterator

from doit.exceptions import InvalidDodoFile, TaskFailed

from . import build as building
from .engine import Engine
from .errors import CalvinError
from .model import Project
from .project import load_project
from .report import CalvinReporter, prefixed, say

DOIT_CONFIG = {"reporter": CalvinReporter}

__all__ = ["DOIT_CONFIG", "task_engine", "task_build", "task_resources"]


class Run:
    """What every task of one doit run shares: the checked project and one engine connection."""

    def __init__(self, project: Project, engine: Engine) -> None:
        self.project = project
        self.engine = engine


@cache
def current() -> Run:
    try:
        project = load_project(Path.cwd())
    except CalvinError as err:
        raise InvalidDodoFile(str(err)) from None
    return Run(project, Engine())


def _step(function: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """A doit action: Calvin's expected errors become a failed step with one clear message."""
    def action() -> Any:
        try:
            result = function(*args)
        except CalvinError as err:
            return TaskFailed(str(err))
        return result if result is not None else True
    action.__name__ = getattr(function, "__name__", "step")
    return action


def _uptodate(check: Callable[[], bool]) -> Callable[[], bool]:
    """An uptodate callable; an unreachable engine means 'not up to date', and the step says why."""
    def uptodate() -> bool:
        try:
            return check()
        except CalvinError:
            return False
    return uptodate


def _check_engine(run: Run) -> None:
    run.engine.api  # noqa: B018 - connecting is the check


def task_engine() -> dict[str, Any]:
    """Reach the Docker engine before any step needs it."""
    run = current()
    return {"actions": [_step(_check_engine, run)], "doc": "reach the Docker engine", "verbosity": 1}


def _build(run: Run, name: str) -> None:
    started = time.monotonic()
    output = prefixed(name)
    image = building.build_resource(run.project, run.engine, name, output)
    say(f"{name:>20} | built {image[7:19]} as {building.content_reference(run.project, name)} "
        f"in {time.monotonic() - started:.1f} s")


def _built(run: Run, name: str) -> bool:
    return building.image_for(run.project, run.engine, name) is not None


def task_build() -> Iterator[dict[str, Any]]:
    """Build each resource's image, parents first; up to date when the engine holds its fingerprint."""
    run = current()
    yield {"basename": "build", "name": None, "doc": "build every resource's image (parents first)"}
    for name in run.project.order:
        resource = run.project.resources[name]
        deps = ["engine"] + ([f"build:{resource.base}"] if resource.base else [])
        yield {
            "name": name,
            "actions": [_step(_build, run, name)],
            "task_dep": deps,
            "uptodate": [_uptodate(lambda name=name: _built(run, name))],
            "doc": f"build {name} ({run.project.fingerprints[name].content_tag})",
        }


def task_resources() -> Iterator[dict[str, Any]]:
    """One task per resource, named after it, so `doit list` shows the resources."""
    run = current()
    width = max((len(r.version) for r in run.project.resources.values()), default=5)
    for name in run.project.order:
        resource = run.project.resources[name]
        yield {
            "basename": name,
            "actions": None,
            "task_dep": [f"build:{name}"],
            "doc": f"{resource.group:<10} {resource.version:<{width}}  {resource.description.splitlines()[0]}",
        }
