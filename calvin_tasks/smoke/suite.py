"""Run a resource's smoke checks: one result per check, the kinds found in one registry."""
from __future__ import annotations

import time
from typing import Any

from .. import runlock
from ..engine import Engine, Limits
from ..errors import EngineError, EngineUnavailable, StepFailed
from ..model import LABEL_NAMESPACE, LABEL_RESOURCE, CheckSpec, Project
from .kinds import (SMOKE_LABEL, CheckKind, CheckResult, CommandCheck, FileCheck, MetadataCheck, PytestCheck,
                    SmokeContext)
from .service import ServiceCheck


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
    except EngineUnavailable:
        raise  # the engine went away: not the image's fault, so not a failed check
    except (StepFailed, EngineError) as err:  # the engine refused what the check asked: a failed check
        passed, why, log = False, str(err), ""
    return CheckResult(ctx.resource.name, check.kind, check.name, passed, why,
                       round(time.monotonic() - started, 3), log)


def container_labels(project: Project, name: str) -> dict[str, str]:
    return {SMOKE_LABEL: "1", LABEL_NAMESPACE: project.settings.namespace, LABEL_RESOURCE: name}


def remove_leftovers(engine: Engine, labels: dict[str, str]) -> int:
    """Remove the check containers of runs that provably ended (a killed run on this host) — never
    those of a run still going, here or on another machine sharing this engine."""
    removed = 0
    for container in engine.containers(labels):
        if runlock.owner_gone(dict(container.get("Labels") or {})):
            engine.remove(container["Id"])
            removed += 1
    return removed


def run_suite(project: Project, engine: Engine, name: str, image: str, say: Any) -> list[CheckResult]:
    """Run every check of a resource against `image`, printing a line per check."""
    resource = project.resources[name]
    settings = project.settings
    labels = container_labels(project, name)
    leftovers = remove_leftovers(engine, labels)
    labels.update(runlock.run_labels())
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
