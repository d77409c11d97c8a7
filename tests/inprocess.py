"""`doit ARGS` in this process against the in-memory engine and registry (tests/fakes.py): whole
runs fast enough for unit tests. What the steps print and what doit's reporter writes come back
together, as a person sees them."""
from __future__ import annotations

from pathlib import Path

import pytest
from doit.cmd_base import ModuleTaskLoader  # type: ignore[import-untyped]
from doit.doit_cmd import DoitMain  # type: ignore[import-untyped]

from calvin_tasks import store as store_module
from calvin_tasks import tasks
from calvin_tasks.tasks import run as run_module
from fakes import Daemon, FakeEngine, FakeRegistry


def doit_here(root: Path, daemon: Daemon, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
              *args: str, engine: type[FakeEngine] = FakeEngine) -> tuple[int, str]:
    """(exit status, output) of `doit ARGS` in `root`, on the machine `daemon`."""
    monkeypatch.chdir(root)
    monkeypatch.setattr(run_module, "Engine", lambda: engine(daemon))
    monkeypatch.setattr(store_module, "Registry", FakeRegistry)
    monkeypatch.delenv("CALVIN_REGISTRY", raising=False)
    monkeypatch.setenv("CALVIN_NAMESPACE", "calvin")
    lines: list[str] = []

    class Recording(run_module.Reporter):  # type: ignore[misc, name-defined]
        def write(self, text: str) -> None:  # doit's reporter writes to the stream it was made with
            lines.append(text)

    run_module.current.cache_clear()
    capsys.readouterr()
    module = dict(vars(tasks), DOIT_CONFIG={**tasks.DOIT_CONFIG, "reporter": Recording})
    code = DoitMain(ModuleTaskLoader(module)).run(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err + "".join(lines)
