"""Commands a person types between runs: bump versions, ask why a step runs, draw the graph.

    doit bump <resource>… [--part patch|minor|major] [--cascade]
    doit why [<resource>…]
    doit graph
"""
from __future__ import annotations

import getopt
from typing import Any, Mapping

from ..errors import CalvinError, StepFailed, display_path
from ..files import write_atomic
from ..model import VERSION_PARTS
from ..plan import Plan
from .reporter import say
from .run import Run, current
from .steps import command

BUMP_USAGE = "doit bump <resource>… [--part patch|minor|major] [--cascade]"


# -- bump ------------------------------------------------------------------------------------------

def _bump_options(names: list[str], part: str, cascade: bool) -> tuple[list[str], str, bool]:
    """doit reads options only before the first name; `doit bump base-linux --cascade` works too."""
    try:
        options, rest = getopt.gnu_getopt(names, "", ["part=", "cascade", "no-cascade"])
    except getopt.GetoptError as err:
        raise StepFailed(f"{err} — usage: {BUMP_USAGE}") from None
    for option, value in options:
        if option == "--part":
            part = value
        else:
            cascade = option == "--cascade"
    if part not in VERSION_PARTS:
        raise StepFailed(f"--part {part}: choose one of {', '.join(VERSION_PARTS)}")
    if not rest:
        raise StepFailed(f"name the resource(s) to bump — usage: {BUMP_USAGE}")
    return rest, part, cascade


def _bump(run: Run, names: list[str], part: str, cascade: bool) -> None:
    from ..bump import plan_bumps, write_bump  # commands load their code when typed

    names, part, cascade = _bump_options(list(names or []), part, cascade)
    project = run.project

    def released(name: str) -> str | None:
        found = run.store.released(name, project.resources[name].version)
        return found.fingerprint if found is not None else None

    bumps = plan_bumps(project, names, part=part, cascade=cascade, released=released)
    for bump in bumps:
        write_bump(project.resources[bump.resource], bump)
        note = "" if bump.why == "asked" else f" ({bump.why})"
        say(f"{bump}   {project.resources[bump.resource].where('version')}{note}")
    say(f"bumped {len(bumps)} resource(s); `doit` builds, tests and releases them")


def task_bump() -> dict[str, Any]:
    """Give resources a new version in resource.yaml (comments and layout kept); --cascade also bumps descendants."""
    run = current()
    return {
        "actions": [(command(_bump), [run])], "verbosity": 2, "pos_arg": "names",
        "params": [{"name": "part", "long": "part", "type": str, "default": "patch",
                    "choices": [(p, "") for p in VERSION_PARTS],
                    "help": "the part of the version to bump: patch (default), minor or major"},
                   {"name": "cascade", "long": "cascade", "inverse": "no-cascade", "type": bool,
                    "default": run.project.settings.bump_cascade,
                    "help": "also give a patch bump to every descendant released with other content"}],
        "doc": f"new versions: {BUMP_USAGE}",
    }


# -- why -------------------------------------------------------------------------------------------

def _plan_or_none(run: Run) -> tuple[Plan | None, str]:
    try:
        return run.plan(), ""
    except CalvinError as err:
        return None, str(err).splitlines()[0]


def _why(run: Run, names: list[str] | None) -> None:
    from .. import why

    project = run.project
    names = list(names or [])
    unknown = [n for n in names if n not in project.resources]
    if unknown:
        raise StepFailed(f"no resource named {', '.join(unknown)} — resources: {', '.join(sorted(project.resources))}")
    plan, trouble = _plan_or_none(run)
    if trouble:
        say(f"(without the engine's answer — {trouble} — comparing with the images built here)")
    if not names:
        names = [n for n in project.order if plan is None or any(
            plan[f"{stage}:{n}"].needed for stage in ("build", "test", "release"))]
        if not names:
            say(f"nothing to do: {len(project.order)} resources up to date")
    for name in names:
        resource = project.resources[name]
        released = None
        if plan is not None:
            found = run.store.released(name, resource.version)
            released = found.fingerprint if found is not None else None
        answer = why.compare(project, name, released)
        say(f"{name} {resource.version} ({project.fingerprints[name].content_tag})")
        if plan is not None:
            for stage in ("build", "test", "release"):
                decision = plan[f"{stage}:{name}"]
                mark = "blocked" if decision.blocked else "will run" if decision.needed else "up to date"
                say(f"  {decision.task:<32} {mark:<10} {decision.reason}")
        if answer.note:
            say(f"  {answer.note}")
        if not answer.since:
            say("  no earlier image of it was built here: nothing to compare with")
        elif not answer.changes:
            say(f"  no input changed since {answer.since}")
        else:
            say(f"  changed since {answer.since}:")
            for change in answer.changes:
                say(f"    - {change}")


def task_why() -> dict[str, Any]:
    """Name the inputs that changed since the image in the store: files, build settings, parent, version, tests."""
    run = current()
    return {"actions": [(command(_why), [run])], "verbosity": 2, "pos_arg": "names",
            "doc": "why a resource's steps run: doit why [<resource>…]"}


# -- graph -----------------------------------------------------------------------------------------

def _broken(run: Run) -> Mapping[str, str]:
    """Resources whose input is wrong, with their first error: the hook for a project that loads
    with broken resources (each blocks only itself and its descendants)."""
    return getattr(run.project, "broken", None) or {}


def _graph(run: Run) -> None:
    from .. import picture  # graphviz's side of Calvin: `doit graph` only
    project = run.project
    plan, trouble = _plan_or_none(run)
    if trouble:
        say(f"states unknown: {trouble}")
    found = picture.states(project, plan, _broken(run))
    title = f"{project.settings.namespace}: {plan.summary() if plan is not None else 'states unknown'}"
    dot_text = picture.to_dot(project, found, title=title)
    dot_path, svg_path = project.settings.output / "graph.dot", project.settings.output / "graph.svg"
    write_atomic(dot_path, dot_text)
    svg = picture.to_svg(dot_text)
    if svg is None:
        say(f"graph: {display_path(dot_path)} — for the SVG install Graphviz (`make tools`, Debian's graphviz)")
        return
    write_atomic(svg_path, svg)
    counts = ", ".join(f"{sum(1 for s, _ in found.values() if s == state)} {state}"
                       for state in picture.STATES if any(s == state for s, _ in found.values()))
    say(f"graph: {display_path(svg_path)} (and {display_path(dot_path)}) — {counts}")


def task_graph() -> dict[str, Any]:
    """Draw the resource graph, each resource coloured by its state: out/graph.dot and out/graph.svg."""
    run = current()
    return {"actions": [(command(_graph), [run])], "verbosity": 2,
            "doc": "draw the resource graph coloured by state: out/graph.svg"}
