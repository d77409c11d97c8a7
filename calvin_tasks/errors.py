"""One root exception for every expected error.

A ``CalvinError`` is a user's or the environment's mistake: it is printed as a
message, without a traceback, and the run exits non-zero. Anything else that
escapes is a bug in Calvin and keeps its traceback.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class CalvinError(Exception):
    """Root of Calvin's expected errors."""


@dataclass(frozen=True)
class Problem:
    """One mistake in the user's input, located as precisely as we can."""

    file: str
    message: str
    line: int | None = None
    resource: str | None = None
    key_path: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.resource:
            parts.append(f"resource '{self.resource}'")
        if self.key_path:
            parts.append(self.key_path)
        text = " · ".join(parts) + f": {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        return text


class InputError(CalvinError):
    """The repository's input is wrong; carries every problem found at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.message))
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        lines = [f"{head} in the input; nothing was built:"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


class EngineError(CalvinError):
    """The Docker engine refused a request, or failed while answering it."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EngineNotFound(EngineError):
    """The engine has no such image, container or network."""


class EngineTimeout(EngineError):
    """The engine did not answer within the client's time limit."""


class EngineUnavailable(EngineError):
    """The Docker engine cannot be reached, or stopped answering."""


class RegistryUnavailable(CalvinError):
    """The configured registry cannot be reached, or answered with an error."""


class StepFailed(CalvinError):
    """A build, test or release step ran and failed (a result, not a setup mistake)."""


class VersionNotBumped(StepFailed):
    """A released version would be re-pointed to different content."""


class TagMoved(StepFailed):
    """A release tag points at a digest Calvin did not release."""


def display_path(path: Path, root: Path | None = None) -> str:
    """A path as the user knows it: relative to the project root when inside it."""
    import os

    base = root if root is not None else Path.cwd()
    text, start_text = os.path.abspath(path), os.path.abspath(base)  # not resolve(): a link is named by itself
    if text.startswith(start_text + os.sep):
        return text[len(start_text) + 1:]
    absolute = Path(text)
    for start in (Path(start_text), base.resolve()):
        try:
            return str(absolute.relative_to(start))
        except ValueError:
            continue
    return str(path)
