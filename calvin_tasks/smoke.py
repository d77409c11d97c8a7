"""Smoke tests: check kinds behind a small registry, run against a freshly built image.

Every container is limited (memory, pids, time), labelled, has no network unless a
check asks for one, and is removed afterwards — on failure and on Ctrl-C too.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from .engine import Engine, Limits, Outcome, from_engine_client
from .errors import StepFailed
from .model import LABEL_NAMESPACE, LABEL_RESOURCE, CheckSpec, Project, Resource, scalar_text

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


def _env(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {key: scalar_text(value) for key, value in (values or {}).items()}


def _expect_output(spec: Mapping[str, Any], outcome: Outcome) -> list[str]:
    wrong = []
    expected = spec.get("exit_code", 0)
    if outcome.timed_out:
        return ["timed out"]
    if outcome.exit_code != expected:
        wrong.append(f"exit code {outcome.exit_code}, expected {expected}")
    for stream in ("stdout", "stderr"):
        text = getattr(outcome, stream)
        if stream in spec and not re.search(spec[stream], text, re.MULTILINE):
            wrong.append(f"{stream} does not match /{spec[stream]}/: {_excerpt(text)}")
        key = f"{stream}_excludes"
        if key in spec and re.search(spec[key], text, re.MULTILINE):
            wrong.append(f"{stream} matches /{spec[key]}/: {_excerpt(text)}")
    return wrong


def _excerpt(text: str, size: int = 200) -> str:
    text = text.strip()
    return repr(text if len(text) <= size else text[:size] + "…")


class CommandCheck:
    def run(self, ctx: SmokeContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        timeout = float(spec.get("timeout", ctx.timeout))
        outcome = ctx.engine.run_command(image=ctx.image, command=list(spec["run"]), env=_env(spec.get("env")),
                                         user=spec.get("user"), network=bool(spec.get("network")),
                                         limits=ctx.limits, labels=ctx.labels, timeout=timeout)
        wrong = _expect_output(spec, outcome)
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
            wrong = [f"{k}={actual_env.get(k)!r}, expected {v!r}" for k, v in _env(expected).items()
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


class ServiceCheck:
    """Start the image's own command, wait (bounded, retrying) until it answers, then check it."""

    def run(self, ctx: SmokeContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        timeout = float(spec.get("timeout", ctx.timeout))
        network = ctx.engine.ensure_network(SMOKE_NETWORK, {SMOKE_LABEL: "1"})
        service = ctx.engine.start_service(image=ctx.image, command=spec.get("command"), env=_env(spec.get("env")),
                                           port=int(spec["port"]), limits=ctx.limits, labels=ctx.labels,
                                           network=network)
        try:
            ready, why = self._wait(ctx, service.container, service.host_port, spec, timeout)
            if not ready:
                return False, why, ctx.engine.logs(service.container)
            wrong: list[str] = []
            for request in spec.get("requests") or []:
                ok, why = _http_once(service.host_port, request)
                if not ok:
                    wrong.append(why)
            for command in spec.get("commands") or []:
                limit = float(command.get("timeout", ctx.timeout))
                outcome = ctx.engine.exec(service.container, command=list(command["run"]),
                                          env=_env(command.get("env")), user=command.get("user"), timeout=limit)
                found = _expect_output(command, outcome)
                if outcome.timed_out:
                    found = [f"timed out after {limit:g} s (the container was killed)"]
                wrong += [f"{command['name']}: {w}" for w in found]
            if wrong:
                return False, "; ".join(wrong), ctx.engine.logs(service.container)
            return True, "", ""
        finally:
            ctx.engine.remove(service.container)

    def _wait(self, ctx: SmokeContext, container: str, host_port: int, spec: Mapping[str, Any],
              timeout: float) -> tuple[bool, str]:
        deadline = time.monotonic() + timeout
        delay = 0.05
        last = "no answer yet"
        while True:
            running, code = ctx.engine.state(container)
            if not running:
                return False, f"the service exited with status {code} before answering on port {spec['port']}"
            if host_port:
                left = max(0.1, deadline - time.monotonic())
                if "http" in spec:
                    ok, last = _http_once(host_port, spec["http"], timeout=min(5.0, left))
                else:
                    ok, last = _listening(host_port, timeout=min(1.0, left))
                if ok:
                    return True, ""
            if time.monotonic() + delay > deadline:
                return False, f"not ready within {timeout:g} s on port {spec['port']}: {last}"
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _listening(host_port: int, timeout: float = 1.0) -> tuple[bool, str]:
    """Whether the service accepts on its port. The engine's proxy accepts for it, then hangs up
    when nothing listens behind it: an open connection with no immediate hang-up means listening."""
    try:
        with socket.create_connection(("127.0.0.1", host_port), timeout=timeout) as sock:
            sock.settimeout(min(0.3, timeout))
            try:
                data = sock.recv(1)
            except socket.timeout:
                return True, ""
            return (True, "") if data else (False, "connection closed: nothing listens on the port")
    except OSError as err:
        return False, f"cannot connect: {err}"


def _http_once(host_port: int, spec: Mapping[str, Any], timeout: float = 5.0) -> tuple[bool, str]:
    path = spec.get("path", "/")
    url = f"http://127.0.0.1:{host_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            status, body = response.status, response.read(1024 * 1024).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read(1024 * 1024).decode("utf-8", "replace")
    except (OSError, urllib.error.URLError) as err:
        return False, f"GET {path}: {getattr(err, 'reason', err)}"
    wrong = []
    expected = int(spec.get("status", 200))
    if status != expected:
        wrong.append(f"status {status}, expected {expected}")
    if "body" in spec and not re.search(spec["body"], body, re.MULTILINE):
        wrong.append(f"body does not match /{spec['body']}/: {_excerpt(body)}")
    if "body_excludes" in spec and re.search(spec["body_excludes"], body, re.MULTILINE):
        wrong.append(f"body matches /{spec['body_excludes']}/")
    return (not wrong), f"GET {path}: " + "; ".join(wrong) if wrong else ""


class PytestCheck:
    """The resource's own test_*.py files, under pytest, with Calvin's fixtures."""

    def run(self, ctx: SmokeContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        env = dict(os.environ, CALVIN_SMOKE_IMAGE=ctx.image, CALVIN_SMOKE_NETWORK=SMOKE_NETWORK,
                   CALVIN_SMOKE_MEMORY=ctx.limits.memory, CALVIN_SMOKE_PIDS=str(ctx.limits.pids),
                   CALVIN_SMOKE_LABELS=",".join(f"{k}={v}" for k, v in ctx.labels.items()),
                   CALVIN_SMOKE_TIMEOUT=str(ctx.timeout))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "calvin_tasks.smoke_fixtures",
                   "-p", "no:cacheprovider", "--rootdir", str(ctx.resource.folder), *spec["files"]]
        try:
            done = subprocess.run(command, cwd=ctx.resource.folder, env=env, capture_output=True, text=True,
                                  timeout=ctx.timeout * 10, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, f"pytest did not finish within {ctx.timeout * 10:g} s", ""
        summary = (done.stdout.strip().splitlines() or [""])[-1]
        return done.returncode == 0, summary, (done.stdout + done.stderr)[-3000:]


CHECK_KINDS: dict[str, CheckKind] = {
    "command": CommandCheck(),
    "file": FileCheck(),
    "metadata": MetadataCheck(),
    "service": ServiceCheck(),
    "pytest": PytestCheck(),
}


def run_check(ctx: SmokeContext, check: CheckSpec) -> CheckResult:
    started = time.monotonic()
    try:
        passed, why, log = CHECK_KINDS[check.kind].run(ctx, check.spec)
    except StepFailed as err:
        passed, why, log = False, str(err), ""
    except Exception as err:  # the engine refused something: a failed check, with its reason
        if not from_engine_client(err):
            raise
        passed, why, log = False, f"the engine said: {err}", ""
    return CheckResult(ctx.resource.name, check.kind, check.name, passed, why,
                       round(time.monotonic() - started, 3), log)


def container_labels(project: Project, name: str) -> dict[str, str]:
    return {SMOKE_LABEL: "1", LABEL_NAMESPACE: project.settings.namespace, LABEL_RESOURCE: name}


def run_suite(project: Project, engine: Engine, name: str, image: str, say: Any) -> list[CheckResult]:
    """Run every check of a resource against `image`, printing a line per check."""
    resource = project.resources[name]
    settings = project.settings
    labels = container_labels(project, name)
    leftovers = engine.remove_labelled(labels)
    if leftovers:
        say(f"{name} · removed {leftovers} container(s) left by an interrupted run")
    ctx = SmokeContext(engine=engine, resource=resource, image=image,
                       limits=Limits(settings.test_memory, settings.test_pids), timeout=settings.test_timeout,
                       labels=labels)
    results = []
    for check in resource.checks:
        result = run_check(ctx, check)
        results.append(result)
        label = f"{name} · {check.name} "
        status = "passed" if result.passed else "FAILED"
        say(f"{label}{'.' * max(3, 64 - len(label))} {status} ({result.seconds:.1f} s)")
        if not result.passed:
            say(f"    {result.message}")
            for line in result.log.strip().splitlines()[-20:]:
                say(f"    | {line}")
    return results
