"""One doit run: the checked project, one engine connection, and the plan every task reads."""
from __future__ import annotations

import gc
import threading
from functools import cache
from pathlib import Path
from typing import Any

from doit.exceptions import InvalidDodoFile  # type: ignore[import-untyped]

from ..engine import Engine
from ..errors import CalvinError
from ..model import Project
from ..plan import Plan, decide, gather
from ..project import load_project
from .reporter import CONSOLE, CalvinReporter, prefixed
from ..store import ensure_local, store_for


class Run:
    """What every task of one doit run shares: the checked project, one engine connection, and the
    plan — gathered once, read by every up-to-date check."""

    def __init__(self, project: Project, engine: Engine) -> None:
        self.project = project
        self.engine = engine
        self.store = store_for(project, engine)
        self.releasing: frozenset[str] | None = None  # resources this run releases (the reporter says)
        self.selected: frozenset[str] | None = None   # resources any step of this run touches
        self._plan: Plan | None = None
        self._lock = threading.Lock()

    def plan(self) -> Plan:
        with self._lock:
            if self._plan is None:
                self._plan = decide(self.project, gather(self.project, self.engine, self.store))
            return self._plan

    def local_image(self, name: str) -> str:
        return ensure_local(self.project, self.engine, self.store, name, prefixed(name))


@cache
def current() -> Run:
    try:
        project = load_project(Path.cwd(), tolerant=True)
    except CalvinError as err:
        raise InvalidDodoFile(str(err)) from None
    CONSOLE.logs = project.settings.output / "logs"
    # The code and the project loaded so far live as long as the run: the collector need not look at
    # them again, neither during the run nor as the process ends (a no-op run spends ~20 ms less).
    gc.freeze()
    return Run(project, Engine())


class Reporter(CalvinReporter):
    """Calvin's reporter, told which tasks this run selected: a releasing run is gated on versions,
    and the summary reads the run's decisions."""

    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        closure: set[str] = set()
        pending = list(selected_tasks)
        while pending:
            name = pending.pop()
            if name in closure or name not in tasks:
                continue
            closure.add(name)
            pending.extend(tasks[name].task_dep)
        run = current()
        run.releasing = frozenset(n.split(":", 1)[1] for n in closure if n.startswith("release:"))
        steps = [n.split(":", 1) for n in closure if ":" in n]
        run.selected = frozenset(name for stage, name in steps if stage in ("build", "test", "release"))
        self.reason = lambda task: run.plan()[task].reason


# `doit` alone validates, builds, tests and releases everything, then writes the manifest.
# (doit reads default_tasks from DOIT_CONFIG only; the rest of its settings is in pyproject.toml.)
DOIT_CONFIG = {"reporter": Reporter, "default_tasks": ["release", "manifest"]}


