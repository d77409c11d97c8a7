"""How a run looks on the console: one line per step as it happens, one summary at the end."""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from doit.reporter import ConsoleReporter  # type: ignore[import-untyped]

_print_lock = threading.Lock()


def say(text: str, stream: TextIO | None = None) -> None:
    """Print whole lines, even from several build threads at once."""
    with _print_lock:
        out = stream or sys.stdout
        out.write(text if text.endswith("\n") else text + "\n")
        out.flush()


def prefixed(prefix: str) -> Any:
    """An output callback printing `prefix | line` for a resource's progress."""
    def output(line: str) -> None:
        say(f"{prefix:>20} | {line}")
    return output


class CalvinReporter(ConsoleReporter):  # type: ignore[misc]
    """doit's console reporter, with Calvin's failure lines and a closing summary."""

    desc = "Calvin: progress lines and a summary"

    def __init__(self, outstream: TextIO, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.started = time.monotonic()
        self.ran: list[str] = []
        self.skipped: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.blocked: list[str] = []

    def execute_task(self, task: Any) -> None:
        if task.actions and task.name[0] != "_":
            self.ran.append(task.name)
            self.write(f".  {task.title()}\n")

    def skip_uptodate(self, task: Any) -> None:
        if task.actions and task.name[0] != "_":
            self.skipped.append(task.name)
            self.write(f"-- {task.title()} (up to date)\n")

    def add_failure(self, task: Any, fail: Any) -> None:
        from doit.exceptions import UnmetDependency  # type: ignore[import-untyped]

        if not fail.report:
            return
        if isinstance(fail, UnmetDependency):
            if task.actions and ":" in task.name:
                self.blocked.append(task.name)
                self.write(f"!! {task.name}: not run, {fail.get_msg().strip()} did not succeed\n")
            return
        message = _message(fail)
        self.failed.append((task.name, message))
        self.write(f"FAILED {task.name}: {message}\n")

    def _write_failure(self, result: dict[str, Any], write_exception: bool = True) -> None:
        pass

    def complete_run(self) -> None:
        for error in self.runtime_errors:
            self.write(f"ERROR: {error}\n")
        elapsed = time.monotonic() - self.started
        ran = [name for name in self.ran if name not in {f for f, _ in self.failed}]
        self.write(f"calvin: {len(ran)} ran, {len(self.skipped)} up to date, {len(self.failed)} failed, "
                   f"{len(self.blocked)} blocked in {elapsed:.1f} s\n")
        for name, message in self.failed:
            self.write(f"  FAILED  {name}: {message}\n")
        if self.blocked:
            self.write(f"  not run because a step they need failed: {', '.join(self.blocked)}\n")


def _message(fail: Any) -> str:
    exception = getattr(fail, "exception", None)
    if exception is not None and getattr(exception, "calvin", False):
        return str(exception)
    text = fail.message if getattr(fail, "message", None) else fail.get_msg()
    return str(text).strip()
