"""How Calvin's steps and commands look to doit: actions whose expected errors fail with one clear
message, and an up-to-date check that reads the run's decision."""
from __future__ import annotations

import inspect
from typing import Any, Callable

from doit.exceptions import TaskFailed  # type: ignore[import-untyped]

from ..errors import CalvinError
from ..model import Project
from .run import Run


def step(function: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """A doit action: Calvin's expected errors become a failed step with one clear message."""
    def action() -> Any:
        try:
            result = function(*args)
        except CalvinError as err:
            return TaskFailed(str(err))
        return result if result is not None else True
    action.__name__ = getattr(function, "__name__", "step")
    return action


def command(function: Callable[..., None]) -> Callable[..., Any]:
    """A doit action taking the task's arguments (pos_arg, params) — doit passes every one to an
    action with **arguments: Calvin's expected errors become one clear message."""
    def action(*args: Any, **arguments: Any) -> Any:
        try:
            function(*args, **arguments)
        except CalvinError as err:
            return TaskFailed(str(err))
        return True
    action.__name__ = function.__name__
    return action


class Decided:
    """doit's up-to-date check for one step: the run's decision, nothing re-derived."""

    __signature__ = inspect.Signature()  # doit asks each check for its parameters: none, said at once

    def __init__(self, run: Run, task: str) -> None:
        self.run, self.task = run, task

    def __call__(self) -> bool:
        try:
            return not self.run.plan()[self.task].needed
        except CalvinError:
            return False  # no decision without the engine: the step runs and says why it cannot

    def __repr__(self) -> str:
        return f"<the decision of `doit plan` for {self.task}>"


class Described:
    """A resource's inputs for `doit info`, rendered only when shown: cheap to attach to every task."""

    def __init__(self, project: Project, name: str) -> None:
        self.project, self.name = project, name

    def __repr__(self) -> str:
        from ..why import describe  # loaded by `doit info` only

        found = describe(self.project, self.name)
        lines = [f"version {found['version']}, fingerprints "
                 + ", ".join(f"{k} {v}" for k, v in found["fingerprints"].items()),
                 f"parent {found['parent'] or '(none: a root)'}",
                 f"build settings {found['build settings']}"]
        for key in ("files", "smoke tests"):
            lines.append(f"{key}:" if found[key] else f"{key}: none")
            lines += [f"    {row}" for row in found[key]]
        return "\n" + "\n".join(f"  {line}" for line in lines)
