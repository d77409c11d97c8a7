"""How a run looks on the console: one line per step as it happens, one summary at the end."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, TextIO

from doit.reporter import ConsoleReporter  # type: ignore[import-untyped]

from ..progress import CONSOLE, say
from ..progress import output as prefixed  # a step's output callback: its log, and the moving line

STAGES = ("build", "test", "release")
__all__ = ["CONSOLE", "CalvinReporter", "prefixed", "say"]


def _stage(task: Any) -> str | None:
    stage = task.name.split(":", 1)[0]
    return stage if stage in STAGES and ":" in task.name else None


class CalvinReporter(ConsoleReporter):  # type: ignore[misc]
    """doit's console reporter, with Calvin's failure lines and a closing summary of the steps."""

    desc = "Calvin: progress lines and a summary"

    def __init__(self, outstream: TextIO, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        CONSOLE.stream = outstream  # Calvin's lines are the reporter's: doit's capture of a step's stdout hides nothing
        CONSOLE.streaming = (options.get("verbosity") or 0) >= 2
        self._ticking = threading.Event()
        if CONSOLE.tty:
            threading.Thread(target=self._tick, daemon=True).start()
        self.started = time.monotonic()
        self.ran: dict[str, list[str]] = {stage: [] for stage in STAGES}
        self.skipped: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.blocked: list[str] = []
        self.reason: Callable[[str], str] | None = None  # the run's decision for a step, when known

    def _tick(self) -> None:
        while not self._ticking.wait(1.0):
            CONSOLE.tick()

    def write(self, text: str) -> None:
        CONSOLE.line(text.rstrip("\n"))

    def execute_task(self, task: Any) -> None:
        stage = _stage(task)
        if stage:
            self.ran[stage].append(task.name)
        if task.actions and task.name[0] != "_":
            self.write(f".  {task.title()}\n")

    def skip_uptodate(self, task: Any) -> None:
        if _stage(task):
            self.skipped.append(task.name)
        if task.actions and task.name[0] != "_":
            why = f": {self.reason(task.name)}" if self.reason is not None and _stage(task) else ""
            self.write(f"-- {task.title()} (up to date{why})\n")

    def add_failure(self, task: Any, fail: Any) -> None:
        from doit.exceptions import UnmetDependency  # type: ignore[import-untyped]

        if not fail.report:
            return
        if isinstance(fail, UnmetDependency):
            if _stage(task):
                self.blocked.append(task.name)
                self.write(f"!! {task.name}: not run, {fail.get_msg().strip()} did not succeed\n")
            return
        message = str(fail.message if getattr(fail, "message", None) else fail.get_msg()).strip()
        self.failed.append((task.name, message))
        self.write(f"FAILED {task.name}: {message}\n")
        trace = getattr(fail, "traceback", None)
        if trace and type(fail).__name__ == "TaskError":  # an exception, not Calvin's own: a bug, keep its traceback
            self.write("".join(trace))
        tail, path = CONSOLE.tail(task.name)
        if tail and not CONSOLE.streaming:
            self.write(f"   the last {len(tail)} lines of {path}:\n" + "".join(f"   | {line}\n" for line in tail))

    def complete_run(self) -> None:
        self._ticking.set()
        for error in self.runtime_errors:
            self.write(f"ERROR: {error}\n")
        failed = {name for name, _ in self.failed}
        if any(self.ran.values()) or self.skipped or self.failed or self.blocked:
            done = {"build": "built", "test": "tested", "release": "released"}
            counts = ", ".join(f"{done[stage]} {len([n for n in self.ran[stage] if n not in failed])}"
                               for stage in STAGES)
            self.write(f"calvin: {counts}; {len(self.skipped)} up to date, {len(self.failed)} failed, "
                       f"{len(self.blocked)} not run in {time.monotonic() - self.started:.1f} s\n")
        for name, message in self.failed:
            self.write(f"  FAILED  {name}: {message}\n")
        if self.blocked:
            self.write(f"  not run because a step they need failed: {', '.join(self.blocked)}\n")
