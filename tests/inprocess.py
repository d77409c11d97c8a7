"""`doit ARGS` in this process against the in-memory engine and registry (tests/fakes.py): whole
runs fast enough for unit tests. What the steps print and what doit's reporter writes come back
together, in order, as a person sees them; the steps doit executed are counted from its own
reporter events."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from doit.cmd_base import ModuleTaskLoader  # type: ignore[import-untyped]
from doit.doit_cmd import DoitMain  # type: ignore[import-untyped]

from calvin_tasks import registry as registry_module
from calvin_tasks.packages import publish  # loaded first: it keeps the real Registry (SBOMs go to real registries only)
from calvin_tasks import tasks
from calvin_tasks.tasks import run as run_module
from fakes import Daemon, FakeEngine, FakeRegistry

STAGES = ("build", "test", "release")


@dataclass
class Outcome:
    code: int
    output: str
    executed: set[str]  # build:/test:/release: steps doit executed


def run_here(root: Path, daemon: Daemon, monkeypatch: pytest.MonkeyPatch, *args: str,
             engine: type[FakeEngine] = FakeEngine) -> Outcome:
    """`doit ARGS` in `root`, on the machine `daemon`."""
    monkeypatch.chdir(root)
    monkeypatch.setattr(run_module, "Engine", lambda: engine(daemon))
    monkeypatch.setattr(registry_module, "Registry", FakeRegistry)  # store_for loads it from there
    assert publish.Registry is not FakeRegistry
    monkeypatch.delenv("CALVIN_REGISTRY", raising=False)
    monkeypatch.setenv("CALVIN_NAMESPACE", "calvin")
    executed: set[str] = set()
    printed = io.StringIO()

    class Recording(run_module.Reporter):  # type: ignore[misc, name-defined]
        def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
            super().__init__(printed, options)  # every line Calvin prints, in order

        def execute_task(self, task: Any) -> None:
            if task.name.split(":", 1)[0] in STAGES and ":" in task.name:
                executed.add(task.name)
            super().execute_task(task)

    run_module.current.cache_clear()
    module = dict(vars(tasks), DOIT_CONFIG={**tasks.DOIT_CONFIG, "reporter": Recording})
    code = DoitMain(ModuleTaskLoader(module)).run(list(args))
    return Outcome(code, printed.getvalue(), executed)


def doit_here(root: Path, daemon: Daemon, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
              *args: str, engine: type[FakeEngine] = FakeEngine) -> tuple[int, str]:
    """(exit status, output) of `doit ARGS` in `root`, on the machine `daemon`; doit's own commands
    (info, list) print to standard output, which comes after Calvin's lines."""
    capsys.readouterr()
    outcome = run_here(root, daemon, monkeypatch, *args, engine=engine)
    captured = capsys.readouterr()
    return outcome.code, outcome.output + captured.out + captured.err
