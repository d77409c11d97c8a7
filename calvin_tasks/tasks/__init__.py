"""The only package that knows doit: task creators derived from resources/ (dodo.py imports them).

    run.py       one doit run: the project, the engine, the plan; the reporter; DOIT_CONFIG
    pipeline.py  engine (decide), config, plan, build, test, release, manifest, per-resource tasks
    commands.py  bump, why, graph: what a person types between runs
    housekeeping.py  gc: remove superseded, unreleased images
    packages.py  refresh, diff, verify: Debian package locks kept current; package changes between versions
    environments.py  pin, promote, up, status, down, secrets, history
"""
from .commands import task_bump, task_graph, task_why
from .environments import (task_down, task_history, task_pin, task_promote, task_secrets, task_status,
                           task_up)
from .housekeeping import task_gc
from .packages import task_diff, task_refresh, task_verify
from .pipeline import (task_build, task_config, task_engine, task_manifest, task_plan, task_release,
                       task_resources, task_test)
from .run import DOIT_CONFIG

__all__ = ["DOIT_CONFIG", "task_build", "task_config", "task_engine", "task_manifest", "task_plan", "task_release",
           "task_resources", "task_test", "task_bump", "task_graph", "task_why", "task_gc",
           "task_down", "task_history", "task_pin", "task_promote", "task_secrets", "task_status", "task_up",
           "task_refresh", "task_diff", "task_verify"]
