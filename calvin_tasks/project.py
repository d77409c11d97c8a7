"""Load a project: settings → discover → validate → graph → walk each folder once → fingerprints.

Strict (the default, for checks and tests): any problem is an InputError. Tolerant (what doit
uses): a broken resource — and everything built on it — is set aside with its problems, so
`doit list` always works and `doit <unrelated>` builds; a run that selects a broken resource
reports every problem before it builds anything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from .context import walk
from .discover import folder_names, scan
from .environments import load_environments
from .errors import InputError, Problem
from .fingerprint import fingerprint_all
from .graph import build_order
from .model import Project, Resource, Settings
from .schema import SchemaCache
from .settings import load_settings
from .validate import check_resources, valid_name

SCHEMA_CACHE = Path(".calvin") / "schema-ok"


def load_project(root: Path, *, tolerant: bool = False) -> Project:
    """Everything checked before anything is built; raises InputError with every problem (in
    tolerant mode, only for problems no resource owns: the pipeline settings, no resources folder)."""
    cache = SchemaCache(root / SCHEMA_CACHE)
    try:
        settings, unsettled = load_settings(root, cache=cache), []
    except InputError as err:  # reported with the resources' problems, then fatal: nothing runs unsettled
        settings, unsettled = Settings(root=root), list(err.problems)
    raw, problems = scan(settings.resources_dir, root)
    folders = folder_names(settings.resources_dir)
    resources, found = check_resources(raw, root, folders, cache=cache)
    problems += found
    broken = _broken(resources, problems, {item.name for item in raw} | folders)
    healthy = {name: r for name, r in resources.items() if name not in broken}
    try:
        order = build_order(healthy)
    except InputError as err:  # a cycle: every resource on it (and below it) is broken
        problems.extend(err.problems)
        for name in _cycle_members(healthy):
            broken[name] = tuple(err.problems)
        healthy = {name: r for name, r in healthy.items() if name not in broken}
        order = build_order(healthy)
    if unsettled or (problems and not tolerant):
        raise InputError(unsettled + problems)
    # a folder that cannot be a resource name (reserved, upper case, …) cannot be selected alone: its
    # problems stop every run
    general: list[Problem] = [problem for name in sorted(broken) if not valid_name(name) for problem in broken[name]]
    broken = {name: found for name, found in broken.items() if valid_name(name)}
    try:
        environments = load_environments(root, healthy, cache=cache)
    except InputError as err:
        if not tolerant:
            raise
        environments, general = [], general + list(err.problems)
    cache.save()
    inputs = {name: walk(healthy[name]) for name in order}
    return Project(settings=settings, resources=healthy, order=order, inputs=inputs,
                   fingerprints=fingerprint_all(healthy, order, inputs), environments=tuple(environments),
                   broken=broken, problems=tuple(InputError(problems + general).problems) if problems or general else (),
                   general=tuple(general))


def _broken(resources: Mapping[str, Resource], problems: list[Problem], names: set[str]) -> dict[str, tuple[Problem, ...]]:
    """Each resource with a problem, and everything built on it (cycles are found by build_order)."""
    broken: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem.resource:
            broken.setdefault(problem.resource, []).append(problem)
    for name in names - set(resources):
        broken.setdefault(name, [])  # did not parse: its problems name it
    changed = True
    while changed:  # a resource is healthy when its chain of bases reaches a root through healthy ones
        changed = False
        for name, resource in sorted(resources.items()):
            base = resource.base
            if name in broken or base is None:
                continue
            if base in broken or base not in resources:
                reason = f"its base '{base}' is broken"
                broken[name] = [Problem(resource.display, reason, line=resource.line_of("base"), resource=name,
                                        key_path="base", hint=f"fix {base} first")]
                changed = True
    return {name: tuple(found) for name, found in broken.items()}


def _cycle_members(resources: Mapping[str, Resource]) -> set[str]:
    """The resources that never reach a root: on a cycle, or built on one."""
    rooted: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, resource in resources.items():
            if name not in rooted and (resource.base is None or resource.base in rooted):
                rooted.add(name)
                changed = True
    return set(resources) - rooted
