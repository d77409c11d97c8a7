"""The pipeline's tasks: engine (decide), build, test, release, manifest, and one task per resource.

    doit                 validate, build what changed (parents first), test, release
    doit list            each resource with its group, version and description
    doit <resource>      one resource and what it builds on

A step's implementation (builders, smoke-test kinds, VM machines, release, SBOMs) is imported when
the step runs: a run where everything is up to date loads none of it.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator


from .. import manifest, results
from ..errors import InputError, StepFailed, display_path
from .. import progress, runlock
from ..plan import MOVED, NOT_BUMPED
from .reporter import prefixed, say
from ..store import content_reference, image_for
from ..validate import untested_warning
from .run import Run, current
from .steps import Decided, Described, step


def _engine(run: Run) -> None:
    """Take this checkout's run lock, reach the engine and the store, decide every step, and stop a
    releasing run before any build when a resource it releases is blocked."""
    _refuse_broken(run)
    runlock.acquire(run.project.settings.root, run.project.settings.lock_wait, say)
    _warn_untested(run)
    run.engine.ping()
    plan = run.plan()
    blocked = plan.blocked(run.releasing) if run.releasing is not None else []
    if not blocked:
        return
    resources = run.project.resources
    lines = [f"{len(blocked)} resource(s) blocked, in build order; nothing was built:"]
    lines += [f"  {d.resource}: {d.reason} ({resources[d.resource].where('version')})" for d in blocked]
    unbumped = [d.resource for d in blocked if d.blocked == NOT_BUMPED]
    if unbumped:
        from ..bump import bump_command

        lines.append(f"  give them new versions with `{bump_command(run.project, unbumped)}`, then run `doit` "
                     "again; `doit build:<name>` builds and tests a change without releasing it")
    if any(d.blocked == MOVED for d in blocked):
        lines.append("  a moved release tag blocks its resource and everything built on it until a person "
                     "restores the tag or releases a new version")
    raise StepFailed("\n".join(lines))


def _refuse_broken(run: Run) -> None:
    """A run that touches a broken resource (a full `doit` does) reports every problem and builds
    nothing; a run of unrelated resources goes on. Problems no resource owns (environments) stop
    every run."""
    project = run.project
    touched = set(project.broken) if run.selected is None else set(project.broken) & run.selected
    if touched or project.general:
        shown = list(project.general) + [p for p in project.problems if p.resource in touched]
        shown += [p for name in sorted(touched) for p in project.broken[name] if p not in shown]
        raise StepFailed(str(InputError(shown)))


def task_engine() -> dict[str, Any]:
    """Reach the Docker engine (and the registry) and decide the run, before any step needs it."""
    run = current()
    return {"actions": [step(_engine, run)], "verbosity": 1,
            "doc": "reach the engine and the release store; decide what the run does"}


def _config_report(run: Run) -> None:
    project = run.project
    readers = {key.name for r in project.resources.values() for key in r.config}
    names = ", ".join(e.name for e in project.environments) or "none"
    say(f"configuration: {len(project.resources)} resources valid; environments {names} provide all "
        f"{len(readers)} keys the resources read, typed right")
    _warn_untested(run)


def task_config() -> dict[str, Any]:
    """Validate resources and every environment's configuration, without building anything."""
    run = current()
    return {"actions": [step(_config_report, run)], "verbosity": 2,
            "doc": "check resources and configs/environments/*.yaml (nothing is built)"}


def _plan(run: Run) -> None:
    plan = run.plan()
    for decision in plan.decisions:
        mark = "blocked" if decision.blocked else "will run" if decision.needed else "up to date"
        say(f"{decision.task:<40} {mark:<10} {decision.reason}")
    say(plan.summary())


def task_plan() -> dict[str, Any]:
    """Say what `doit` would build, test and release, and why; change nothing."""
    run = current()
    return {"actions": [step(_plan, run)], "verbosity": 2,
            "doc": "what a run would build, test and release, and why"}


def _build(run: Run, name: str) -> None:
    from .. import build as building
    started = time.monotonic()
    base = run.project.resources[name].base
    leftovers = building.remove_build_leftovers(run.engine, run.project.settings.output / "state" / "building")
    if leftovers:
        say(f"{name:>20} | removed {leftovers} step container(s) of a build the engine abandoned")
    parent_image = run.local_image(base) if base else None
    reference = content_reference(run.project, name)
    with runlock.step_lock(f"build {reference}", run.project.settings.lock_wait):
        run.engine.forget(reference)
        found = image_for(run.project, run.engine, name)
        if found is not None:  # another run (another checkout on this engine) built it meanwhile
            say(f"{name:>20} | {reference} was built by another run meanwhile ({found[7:19]}): not built again")
            return
        image = building.build_resource(run.project, run.engine, name, prefixed(name), parent_image)
        from ..packages.resolve import resolved  # a build that wrote its lock (an input) builds again from it
        run.project, image, reference = resolved(run.project, run.engine, name, image, say, lambda now:
                                                 building.build_resource(now, run.engine, name, prefixed(name), parent_image))
    say(f"{name:>20} | built {image[7:19]} as {reference} in {time.monotonic() - started:.1f} s")


def _test(run: Run, name: str) -> None:
    project = run.project
    image = run.local_image(name)
    fingerprints = project.fingerprints[name]
    if not project.resources[name].checks:
        say(f"{name} · no smoke checks declared (add resources/{name}/tests.yaml)")
    if project.resources[name].kind == "vm":
        from ..vm.suite import run_vm_image_suite
        checks = run_vm_image_suite(project, run.engine, name, image, say)
    else:
        from ..smoke.suite import run_suite
        checks = run_suite(project, run.engine, name, image, say)
    json_report, _ = results.write_reports(project.settings, name, image, fingerprints, checks)
    failed = [c for c in checks if not c.passed]
    if failed:
        results.forget_pass(project.settings, name)
        listed = "; ".join(f"{c.name}: {c.message}" for c in failed)
        raise StepFailed(f"{len(failed)} of {len(checks)} smoke checks failed ({listed}) — report: {display_path(json_report)}")
    results.record_pass(project.settings, name, image, fingerprints, len(checks))


def _release(run: Run, name: str) -> None:
    from .. import release
    from ..packages.publish import record_sbom
    resource = run.project.resources[name]
    key = f"release {run.project.settings.registry or 'engine'}/{resource.repository(run.project.settings.namespace)}"
    with runlock.step_lock(f"{key}:{resource.version}", run.project.settings.lock_wait):
        released = release.release_resource(run.project, run.engine, run.store, name, prefixed(name))
    record_sbom(run.project, run.engine, run.store, name, released.image, prefixed(name))


def _logged(action: Callable[[Run, str], None], task: str) -> Callable[[Run, str], None]:
    """A step whose long output goes to out/logs/<resource>/<stage>.log (progress.output)."""
    def step(run: Run, name: str) -> None:
        progress.begin(task)
        try:
            action(run, name)
        finally:
            progress.end()
    step.__name__ = getattr(action, "__name__", "step")
    return step


def _stage_tasks(run: Run, stage: str, action: Callable[[Run, str], None],
                 deps: Callable[[str], list[str]], doc: Callable[[str], str]) -> Iterator[dict[str, Any]]:
    for name in run.project.order:
        yield {"name": name, "actions": [step(_logged(action, f"{stage}:{name}"), run, name)], "task_dep": deps(name),
               "uptodate": [Decided(run, f"{stage}:{name}")], "doc": doc(name),
               "meta": {"inputs": Described(run.project, name)}}  # shown by `doit info`
    # a broken resource's steps: selected (a full `doit` selects them), the engine task refuses the
    # whole run first; selected alone, its build fails with its problems
    previous = {"build": "engine", "test": "build", "release": "test"}[stage]
    for name, problems in sorted(run.project.broken.items()):
        before = previous if previous == "engine" else f"{previous}:{name}"
        yield {"name": name, "actions": [step(_broken, problems)] if stage == "build" else None,
               "task_dep": [before], "doc": f"BROKEN: {name} does not load"}


def task_build() -> Iterator[dict[str, Any]]:
    """Build each resource's image, parents first; up to date when the engine or store holds its fingerprint."""
    run = current()
    resources = run.project.resources
    yield {"basename": "build", "name": None, "doc": "build every resource's image (parents first)"}
    yield from _stage_tasks(run, "build", _build,
                            lambda n: ["engine"] + ([f"test:{resources[n].base}"] if resources[n].base else []),
                            lambda n: f"build {n} ({run.project.fingerprints[n].content_tag})")


def task_test() -> Iterator[dict[str, Any]]:
    """Smoke-test each new image before anything builds on it; up to date when this image passed these tests."""
    run = current()
    yield {"basename": "test", "name": None, "doc": "smoke-test every resource's image"}
    yield from _stage_tasks(run, "test", _test, lambda n: [f"build:{n}"],
                            lambda n: f"smoke-test {n} ({len(run.project.resources[n].checks)} checks)")


def task_release() -> Iterator[dict[str, Any]]:
    """Release each tested image as <namespace>/<name>:<version>; a released version never moves."""
    run = current()
    resources, namespace = run.project.resources, run.project.settings.namespace
    where = f"to {run.project.settings.registry}" if run.project.settings.registry else "in the local engine"
    # the group depends on the engine task too: a project whose only resources are broken is refused
    yield {"basename": "release", "name": None, "task_dep": ["engine"], "doc": f"release every resource {where}"}
    yield from _stage_tasks(run, "release", _release,
                            lambda n: [f"test:{n}"] + ([f"release:{resources[n].base}"] if resources[n].base else []),
                            lambda n: f"release {resources[n].repository(namespace)}:{resources[n].version}")


def _warn_untested(run: Run) -> None:
    warning = untested_warning(run.project.resources)
    if warning:
        say(warning)  # the console: doit does not capture it


def _manifest(run: Run) -> None:
    if threading.current_thread() is not threading.main_thread():
        # `-P thread`: doit also runs teardowns in each worker as it stops, while others may still
        # be releasing; the main thread runs them once more after every worker has finished
        return
    facts = manifest.RunFacts.from_plan(run.project, run.plan())
    reports = manifest.report_earlier_passes(run.project, run.engine, run.store, facts)
    if reports:
        say(f"smoke-test reports of {len(reports)} earlier pass(es), re-used: {display_path(reports[0].parent)}")
    path = manifest.write_manifest(run.project, run.engine, run.store, facts)
    if path.name == "latest.json":
        say(f"release manifest unchanged: {display_path(path)}")
    else:
        say(f"release manifest: {display_path(path)} (and {display_path(path.parent / 'latest.json')})")


def task_manifest() -> dict[str, Any]:
    """Write the release manifest of this run: per resource version, fingerprint, image, digest, tests.

    It is written in the task's teardown, which doit runs once every other task has finished,
    failed or not: a run where one release fails still records what it did release."""
    run = current()
    return {"actions": [_noop], "teardown": [step(_manifest, run)], "verbosity": 2,
            "doc": "write out/releases/<time>.json and latest.json when the run ends"}


def _noop() -> bool:
    return True


def task_resources() -> Iterator[dict[str, Any]]:
    """One task per resource, named after it, so `doit list` shows the resources — broken ones too,
    with their first problem."""
    run = current()
    width = max((len(r.version) for r in run.project.resources.values()), default=5)
    for name in run.project.order:
        resource = run.project.resources[name]
        yield {
            "basename": name,
            "actions": None,
            "task_dep": [f"release:{name}"],
            "doc": f"{resource.group:<10} {resource.kind:<9} {resource.version:<{width}}  "
                   f"{resource.description.splitlines()[0]}",
        }
    for name, problems in sorted(run.project.broken.items()):
        first = str(problems[0]) if problems else "its resource.yaml does not load"
        yield {"basename": name, "actions": None, "task_dep": [f"release:{name}"], "doc": f"BROKEN     {first}"}


def _broken(problems: tuple[Any, ...]) -> None:
    raise StepFailed(str(InputError(list(problems))) if problems else "this resource does not load")
