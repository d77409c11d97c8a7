"""Progress, not a wall: every line of a build or check goes to out/logs/<resource>/<step>.log; the
console gets one line per step as it moves (build step n/m, with elapsed time) and its result.

On a terminal the moving line is one live status line, redrawn in place every second; off a
terminal (CI) it is plain lines without escape codes, one per build step. `doit -v 2` streams
every line as before.
"""
from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, TextIO

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")
TAIL = 30


@dataclass
class Console:
    """Where Calvin's lines go: the terminal (or CI log) doit's reporter writes to."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    streaming: bool = False  # doit -v 2: every line of every step, as it comes
    logs: Path | None = None  # out/logs
    lock: threading.Lock = field(default_factory=threading.Lock)
    live: dict[str, str] = field(default_factory=dict)  # running step → its latest progress
    started: dict[str, float] = field(default_factory=dict)

    @property
    def tty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, text: str) -> None:
        """A whole line, above the live status line on a terminal."""
        with self.lock:
            live = bool(self.live) and self.tty  # (asked in this order: a no-op run prints a line per step)
            if live:
                self.stream.write("\r\x1b[K")
            self.stream.write(text if text.endswith("\n") else text + "\n")
            if live:
                self.stream.write(self._status())
            self.stream.flush()

    def _status(self) -> str:
        now = time.monotonic()
        parts = [f"{task} {note} {now - self.started.get(task, now):.0f}s" for task, note in sorted(self.live.items())]
        return ("» " + " | ".join(parts))[:200]

    def moving(self, task: str, note: str) -> None:
        """A running step's progress: redrawn in place on a terminal, a plain line elsewhere."""
        with self.lock:
            self.live[task] = note
            self.started.setdefault(task, time.monotonic())
            if self.tty:
                self.stream.write("\r\x1b[K" + self._status())
                self.stream.flush()
                return
        resource = task.split(":", 1)[-1]
        self.line(f"{resource:>20} | {note} ({time.monotonic() - self.started[task]:.1f} s)")

    def done(self, task: str) -> None:
        with self.lock:
            self.live.pop(task, None)
            self.started.pop(task, None)
            if self.tty:
                self.stream.write("\r\x1b[K" + (self._status() if self.live else ""))
                self.stream.flush()

    def tick(self) -> None:
        """Redraw the live line (elapsed time moves while a long step runs); terminals only."""
        with self.lock:
            if self.tty and self.live:
                self.stream.write("\r\x1b[K" + self._status())
                self.stream.flush()

    def log_path(self, task: str) -> Path | None:
        if self.logs is None or ":" not in task:
            return None
        stage, resource = task.split(":", 1)
        return self.logs / resource / f"{stage}.log"

    def tail(self, task: str, lines: int = TAIL) -> tuple[list[str], Path | None]:
        path = self.log_path(task)
        try:
            return (path.read_text(errors="replace").splitlines()[-lines:] if path else []), path
        except OSError:
            return [], path


CONSOLE = Console()
_current = threading.local()


def say(text: str) -> None:
    CONSOLE.line(text)


def begin(task: str) -> None:
    """A step starts in this thread: its lines go to its log from now on."""
    path = CONSOLE.log_path(task)
    handle: IO[str] | None = None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by end()
    _current.task, _current.handle = task, handle


def end() -> None:
    handle = getattr(_current, "handle", None)
    if handle is not None:
        handle.close()
    task = getattr(_current, "task", None)
    if task is not None:
        CONSOLE.done(task)
    _current.task = _current.handle = None


def output(prefix: str) -> Callable[[str], None]:
    """The output callback of a step's long work (build log, pulls, pushes): into the step's log;
    on the console, only the moving line — or everything with -v 2."""
    def write(line: str) -> None:
        clean = _ESCAPES.sub("", line).rstrip()
        handle = getattr(_current, "handle", None)
        if handle is not None:
            handle.write(clean + "\n")
            handle.flush()
        if CONSOLE.streaming or getattr(_current, "task", None) is None:
            CONSOLE.line(f"{prefix:>20} | {clean}")
            return
        step = _STEP.match(clean)
        if step:
            instruction = step.group(3)
            if '"calvin.fingerprint"=' in instruction:  # the labels Calvin adds, not the user's instruction
                instruction = "(Calvin's labels)"
            CONSOLE.moving(_current.task, f"step {step.group(1)}/{step.group(2)}: {instruction[:70]}")
    return write
