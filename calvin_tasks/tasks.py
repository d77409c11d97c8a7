"""The only module that knows doit: task creators derived from resources/.

    doit                 validate, build what changed (parents first), test, release
    doit list            each resource with its group, version and description
    doit <resource>      one resource and what it builds on
"""
from __future__ import annotations

import time
from functools import cache, partial
from pathlib import Path
from typing import Any, Callable, Iterator

from doit.exceptions import InvalidDodoFile, TaskFailed  # type: ignore[import-untyped]

from . import build as building
from . import release, results, smoke
from .plan import State, plan
from .engine import Engine, from_engine_client, refusal_text
from .errors import CalvinError, StepFailed, display_path
from .model import Project
from .project import load_project
from .report import CalvinReporter, prefixed, say

# `doit` alone validates, builds, tests and releases everything, then writes the manifest.
# (doit reads default_tasks from DOIT_CONFIG only; the rest of its settings is in pyproject.toml.)
DOIT_CONFIG = {"reporter": CalvinReporter, "default_tasks": ["release", "manifest"]}

__all__ = ["DOIT_CONFIG", "task_config", "task_plan", "task_engine", "task_build", "task_test", "task_release", "task_manifest",
           "task_resources"]


class Run:
    """What every task of one doit run shares: the checked project and one engine connection."""

    def __init__(self, project: Project, engine: Engine) -> None:
        self.project = project
        self.engine = engine
        self.store = release.store_for(project, engine)

    def local_image(self, name: str) -> str:
        return release.ensure_local(self.project, self.engine, self.store, name, prefixed(name))


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
        except Exception as err:
            if not from_engine_client(err):
                raise  # a bug in Calvin: keep its traceback
            return TaskFailed(f"the Docker engine refused: {refusal_text(err)}")
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
    run.engine.ping()
    run.engine.prefetch([building.content_reference(run.project, name) for name in run.project.order])


def _config_report(run: Run) -> None:
    project = run.project
    readers = {key.name for r in project.resources.values() for key in r.config}
    names = ", ".join(e.name for e in project.environments) or "none"
    say(f"configuration: {len(project.resources)} resources valid; environments {names} provide all "
        f"{len(readers)} keys the resources read, typed right")


def task_config() -> dict[str, Any]:
    """Validate resources and every environment's configuration, without building anything."""
    run = current()
    return {"actions": [_step(_config_report, run)], "verbosity": 2,
            "doc": "check resources and configs/environments/*.yaml (nothing is built)"}


def _plan(run: Run) -> None:
    project = run.project
    released = {}
    for name in project.order:
        found = run.store.released(name, project.resources[name].version)
        released[name] = found.fingerprint if found else None
    state = State(built=frozenset(n for n in project.order if _built(run, n)),
                  tested=frozenset(n for n in project.order if _tested(run, n)), released=released)
    for step in plan(project, state):
        mark = "will run" if step.needed else "up to date"
        say(f"{step.stage + ':' + step.resource:<40} {mark:<10} {step.reason}")


def task_plan() -> dict[str, Any]:
    """Say what `doit` would build, test and release, and why; change nothing."""
    run = current()
    return {"actions": [_step(_plan, run)], "task_dep": ["engine"], "verbosity": 2,
            "doc": "what a run would build, test and release, and why"}


def task_engine() -> dict[str, Any]:
    """Reach the Docker engine before any step needs it."""
    run = current()
    return {"actions": [_step(_check_engine, run)], "doc": "reach the Docker engine", "verbosity": 1}


def _build(run: Run, name: str) -> None:
    started = time.monotonic()
    output = prefixed(name)
    base = run.project.resources[name].base
    parent_image = run.local_image(base) if base else None
    image = building.build_resource(run.project, run.engine, name, output, parent_image)
    say(f"{name:>20} | built {image[7:19]} as {building.content_reference(run.project, name)} "
        f"in {time.monotonic() - started:.1f} s")


def _built(run: Run, name: str) -> bool:
    if building.image_for(run.project, run.engine, name) is not None:
        return True
    return bool(run.project.settings.registry) and release.in_store(run.project, run.store, name)


def task_build() -> Iterator[dict[str, Any]]:
    """Build each resource's image, parents first; up to date when the engine holds its fingerprint."""
    run = current()
    yield {"basename": "build", "name": None, "doc": "build every resource's image (parents first)"}
    for name in run.project.order:
        resource = run.project.resources[name]
        deps = ["engine"] + ([f"test:{resource.base}"] if resource.base else [])
        yield {
            "name": name,
            "actions": [_step(_build, run, name)],
            "task_dep": deps,
            "uptodate": [_uptodate(partial(_built, run, name))],
            "doc": f"build {name} ({run.project.fingerprints[name].content_tag})",
        }


def _test(run: Run, name: str) -> None:
    project = run.project
    image = run.local_image(name)
    fingerprints = project.fingerprints[name]
    if not project.resources[name].checks:
        say(f"{name} · no smoke checks declared (add resources/{name}/tests.yaml)")
    checks = smoke.run_suite(project, run.engine, name, image, say)
    json_report, _ = results.write_reports(project.settings, name, image, fingerprints, checks)
    failed = [c for c in checks if not c.passed]
    if failed:
        results.forget_pass(project.settings, name)
        listed = "; ".join(f"{c.name}: {c.message}" for c in failed)
        raise StepFailed(f"{len(failed)} of {len(checks)} smoke checks failed ({listed}) — report: {display_path(json_report)}")
    results.record_pass(project.settings, name, image, fingerprints, len(checks))


def _tested(run: Run, name: str) -> bool:
    image = building.image_for(run.project, run.engine, name)
    if image is not None and results.passed(run.project.settings, name, image, run.project.fingerprints[name]):
        return True
    return release.tested_in_store(run.project, run.store, name)


def task_test() -> Iterator[dict[str, Any]]:
    """Smoke-test each new image before anything builds on it; up to date when this image passed these tests."""
    run = current()
    yield {"basename": "test", "name": None, "doc": "smoke-test every resource's image"}
    for name in run.project.order:
        yield {
            "name": name,
            "actions": [_step(_test, run, name)],
            "task_dep": [f"build:{name}"],
            "uptodate": [_uptodate(partial(_tested, run, name))],
            "doc": f"smoke-test {name} ({len(run.project.resources[name].checks)} checks)",
        }


def _release(run: Run, name: str) -> None:
    release.release_resource(run.project, run.engine, run.store, name, prefixed(name))


def task_release() -> Iterator[dict[str, Any]]:
    """Release each tested image as <namespace>/<name>:<version>; a released version never moves."""
    run = current()
    where = f"to {run.project.settings.registry}" if run.project.settings.registry else "in the local engine"
    yield {"basename": "release", "name": None, "doc": f"release every resource {where}"}
    for name in run.project.order:
        resource = run.project.resources[name]
        yield {
            "name": name,
            "actions": [_step(_release, run, name)],
            "task_dep": [f"test:{name}"] + ([f"release:{resource.base}"] if resource.base else []),
            "uptodate": [_uptodate(partial(release.is_released, run.project, run.store, name))],
            "doc": f"release {resource.repository(run.project.settings.namespace)}:{resource.version}",
        }


def _manifest(run: Run) -> None:
    path = release.write_manifest(run.project, run.engine, run.store)
    if path.name == "latest.json":
        say(f"release manifest unchanged: {display_path(path)}")
    else:
        say(f"release manifest: {display_path(path)} (and {display_path(path.parent / 'latest.json')})")


def task_manifest() -> dict[str, Any]:
    """Write the release manifest of this run: per resource version, fingerprint, image, digest, tests.

    It is written in the task's teardown, which doit runs once every other task has finished,
    failed or not: a run where one release fails still records what it did release."""
    run = current()
    return {"actions": [_noop], "teardown": [_step(_manifest, run)], "verbosity": 2,
            "doc": "write out/releases/<time>.json and latest.json when the run ends"}


def _noop() -> bool:
    return True


def task_resources() -> Iterator[dict[str, Any]]:
    """One task per resource, named after it, so `doit list` shows the resources."""
    run = current()
    width = max((len(r.version) for r in run.project.resources.values()), default=5)
    for name in run.project.order:
        resource = run.project.resources[name]
        yield {
            "basename": name,
            "actions": None,
            "task_dep": [f"release:{name}"],
            "doc": f"{resource.group:<10} {resource.version:<{width}}  {resource.description.splitlines()[0]}",
        }
