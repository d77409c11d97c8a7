"""The check kinds of tests.yaml that look at an image: command, file, metadata, pytest.

Every container is limited (memory, pids, time), labelled, has no network unless a
check asks for one, and is removed afterwards — on failure and on Ctrl-C too.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol

from ..engine import Engine, Limits, Outcome
from ..model import Resource, scalar_text
from . import sandbox

SMOKE_LABEL = "calvin.smoke"
SMOKE_NETWORK = "calvin-smoke"
FILE_READ_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class CheckResult:
    resource: str
    kind: str
    name: str
    passed: bool
    message: str = ""
    seconds: float = 0.0
    log: str = ""


@dataclass
class SmokeContext:
    """What a check needs: the engine, the image under test, and the run's limits."""

    engine: Engine
    resource: Resource
    image: str
    limits: Limits
    timeout: float
    labels: Mapping[str, str]


class CheckKind(Protocol):
    def run(self, ctx: SmokeContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        """(passed, why, container log to show on failure)."""


def env_text(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {key: scalar_text(value) for key, value in (values or {}).items()}


def expect_output(spec: Mapping[str, Any], outcome: Outcome) -> list[str]:
    wrong = []
    expected = spec.get("exit_code", 0)
    if outcome.timed_out:
        return ["timed out"]
    if outcome.exit_code != expected:
        wrong.append(f"exit code {outcome.exit_code}, expected {expected}")
    for stream in ("stdout", "stderr"):
        text = getattr(outcome, stream)
        if stream in spec and not re.search(spec[stream], text, re.MULTILINE):
            wrong.append(f"{stream} does not match /{spec[stream]}/: {excerpt(text)}")
        key = f"{stream}_excludes"
        if key in spec and re.search(spec[key], text, re.MULTILINE):
            wrong.append(f"{stream} matches /{spec[key]}/: {excerpt(text)}")
    return wrong


def excerpt(text: str, size: int = 200) -> str:
    text = text.strip()
    return repr(text if len(text) <= size else text[:size] + "…")


class CommandCheck:
    def run(self, ctx: SmokeContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        timeout = float(spec.get("timeout", ctx.timeout))
        outcome = ctx.engine.run_command(image=ctx.image, command=list(spec["run"]), env=env_text(spec.get("env")),
                                         user=spec.get("user"), network=bool(spec.get("network")),
                                         limits=ctx.limits, labels=ctx.labels, timeout=timeout,
                                         keep_entrypoint=spec.get("entrypoint") == "image")
        wrong = expect_output(spec, outcome)
        if outcome.timed_out:
            wrong = [f"timed out after {timeout:g} s (the container was killed)"]
        log = (outcome.stdout + outcome.stderr)[-2000:]
        return not wrong, "; ".join(wrong), log


class FileCheck:
    def run(self, ctx: SmokeContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        path = spec["path"]
        info = ctx.engine.read_path(image=ctx.image, path=path, labels=ctx.labels, limit=FILE_READ_LIMIT)
        wants_link = spec.get("type") == "symlink"
        hops = 0
        while info is not None and info.type == "symlink" and not wants_link and hops < 8:
            target = info.target if info.target.startswith("/") else os.path.normpath(
                os.path.join(os.path.dirname(path), info.target))
            path, hops = target, hops + 1
            info = ctx.engine.read_path(image=ctx.image, path=path, labels=ctx.labels, limit=FILE_READ_LIMIT)
        if not spec.get("exists", True):
            return info is None, "" if info is None else f"{spec['path']} exists, expected it absent", ""
        if info is None:
            return False, f"{spec['path']} does not exist", ""
        wrong = []
        if "type" in spec and info.type != spec["type"]:
            wrong.append(f"is a {info.type}, expected a {spec['type']}")
        if "mode" in spec and info.mode != int(spec["mode"], 8):
            wrong.append(f"mode {info.mode:04o}, expected {int(spec['mode'], 8):04o}")
        if "owner" in spec:
            uid, _, gid = spec["owner"].partition(":")
            if info.uid != int(uid) or (gid and info.gid != int(gid)):
                wrong.append(f"owner {info.uid}:{info.gid}, expected {spec['owner']}")
        text = info.content.decode("utf-8", "replace")
        if "contains" in spec and not re.search(spec["contains"], text, re.MULTILINE):
            wrong.append(f"content does not match /{spec['contains']}/")
        if "excludes" in spec and re.search(spec["excludes"], text, re.MULTILINE):
            wrong.append(f"content matches /{spec['excludes']}/")
        return not wrong, f"{spec['path']}: " + "; ".join(wrong) if wrong else "", ""


class MetadataCheck:
    def run(self, ctx: SmokeContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        config = ctx.engine.inspect_raw(ctx.image).get("Config") or {}
        key, expected = spec["key"], spec["expected"]
        if key == "env":
            actual_env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
            wrong = [f"{k}={actual_env.get(k)!r}, expected {v!r}" for k, v in env_text(expected).items()
                     if actual_env.get(k) != v]
        elif key == "labels":
            labels = config.get("Labels") or {}
            wrong = [f"label {k}={labels.get(k)!r}, expected {v!r}" for k, v in expected.items() if labels.get(k) != v]
        elif key == "exposed_ports":
            exposed = set(config.get("ExposedPorts") or {})
            wrong = [f"port {p} is not exposed (exposed: {', '.join(sorted(exposed)) or 'none'})"
                     for p in (q if "/" in q else f"{q}/tcp" for q in expected) if p not in exposed]
        elif key == "volumes":
            volumes = set(config.get("Volumes") or {})
            wrong = [f"{v} is not a volume" for v in expected if v not in volumes]
        else:
            field_name = {"user": "User", "entrypoint": "Entrypoint", "cmd": "Cmd", "workdir": "WorkingDir"}[key]
            actual = config.get(field_name)
            if key in ("entrypoint", "cmd"):
                same = list(actual or []) == list(expected or [])
            else:
                same = (actual or "") == expected
            wrong = [] if same else [f"{key} is {actual!r}, expected {expected!r}"]
        return not wrong, "; ".join(wrong), ""


class PytestCheck:
    """The resource's own test_*.py files, under pytest, with Calvin's fixtures: a copy of them,
    with a scrubbed environment, as an unprivileged user when Calvin is root (sandbox.py)."""

    def run(self, ctx: SmokeContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        who = sandbox.run_as()
        python = sandbox.python_for(who)
        note = ""
        if isinstance(python, str):
            # the unprivileged user cannot read Calvin's Python (a virtualenv under a private folder):
            # the check still runs in a scratch copy with a scrubbed environment, as this user, and says so
            note = (f"ran as {sandbox.RunAs().name}, not '{who.name}', who cannot read {python} (chmod o+rX "
                    "Calvin's virtualenv and the folders above it to drop privileges); ")
            who, python = sandbox.RunAs(), sandbox.Python(sys.executable)
        top = sandbox.scratch(ctx.resource.folder, who)
        try:
            passed, why, log = self._pytest(ctx, spec, who, python, top)
            return passed, note + why, log
        finally:
            shutil.rmtree(top, ignore_errors=True)

    @staticmethod
    def _pytest(ctx: SmokeContext, spec: Mapping[str, Any], who: sandbox.RunAs, python: sandbox.Python,
                top: Path) -> tuple[bool, str, str]:
        env = sandbox.environment(top, python, {
            "CALVIN_SMOKE_IMAGE": ctx.image, "CALVIN_SMOKE_NETWORK": SMOKE_NETWORK,
            "CALVIN_SMOKE_MEMORY": ctx.limits.memory, "CALVIN_SMOKE_PIDS": str(ctx.limits.pids),
            "CALVIN_SMOKE_LABELS": ",".join(f"{k}={v}" for k, v in ctx.labels.items()),
            "CALVIN_SMOKE_TIMEOUT": str(ctx.timeout)})
        tests = top / "tests"
        command = [python.executable, "-s", "-m", "pytest", "-q", "-p", "calvin_tasks.smoke.fixtures",
                   "-p", "no:cacheprovider", "--rootdir", str(tests), *spec["files"]]
        try:
            done = subprocess.run(command, cwd=tests, env=env, capture_output=True, text=True,
                                  timeout=ctx.timeout * 10, stdin=subprocess.DEVNULL, user=who.user,
                                  group=who.group, extra_groups=list(who.extra_groups) if who.user is not None
                                  else None)
        except subprocess.TimeoutExpired:
            return False, f"pytest did not finish within {ctx.timeout * 10:g} s", ""
        summary = (done.stdout.strip().splitlines() or [""])[-1]
        return done.returncode == 0, summary, (done.stdout + done.stderr)[-3000:]
