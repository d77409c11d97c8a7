"""The only package that knows doit: task creators derived from resources/ (dodo.py imports them).

    run.py       one doit run: the project, the engine, the plan; DOIT_CONFIG
    reporter.py  the console: one line per step, results, the closing summary
    steps.py     how a step and a command look to doit: actions, and the up-to-date check (the decision)
    pipeline.py  engine (decide), config, plan, build, test, release, manifest, per-resource tasks
    commands.py  bump, why, graph: what a person types between runs
    housekeeping.py  gc: remove superseded, unreleased images
    packages.py  refresh, diff, verify: Debian package locks kept current; package changes between versions
    environments.py  pin, promote, up, status, down, secrets, history
"""
from typing import Any, Callable, Iterator

from . import commands, environments, housekeeping, packages
from .pipeline import (task_build, task_config, task_engine, task_manifest, task_plan, task_release,
                       task_resources, task_test)
from .run import DOIT_CONFIG

__all__ = ["DOIT_CONFIG", "task_build", "task_commands", "task_config", "task_engine", "task_environments",
           "task_manifest", "task_plan", "task_release", "task_resources", "task_test"]


def _each(*creators: Callable[[], Any]) -> Iterator[dict[str, Any]]:
    """The tasks of several creators from one: doit reads every creator's source to order them, which
    costs a no-op run time per creator."""
    for creator in creators:
        basename = creator.__name__[len("task_"):]
        made = creator()
        for task in [made] if isinstance(made, dict) else made:
            yield {"basename": basename, **task}


def task_commands() -> Iterator[dict[str, Any]]:
    """What a person types between runs: bump, why, graph, gc, refresh, diff, verify."""
    yield from _each(commands.task_bump, commands.task_why, commands.task_graph, housekeeping.task_gc,
                     packages.task_refresh, packages.task_diff, packages.task_verify)


def task_environments() -> Iterator[dict[str, Any]]:
    """Environments: pin, promote, up:<env>, status:<env>, down:<env>, secrets, history."""
    yield from _each(environments.task_pin, environments.task_promote, environments.task_up,
                     environments.task_status, environments.task_down, environments.task_secrets,
                     environments.task_history)
