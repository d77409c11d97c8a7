"""Up, status and down for an environment with `deploy: swarm`, against the manager DOCKER_HOST names.

up: the secrets become Swarm secrets (created from the store through the API), the file values
Swarm configs (from the repository), both named by content hash; the stack file is rendered and
deployed; Swarm rolls each changed service (one task at a time, rolled back when the new task fails
its health check) and Calvin waits — bounded, with back-off — until every service runs its pinned
digest, healthy, or names the services that rolled back or fail. Secrets and configs no service
uses any more are removed afterwards.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from ..engine import Engine
from ..environments import Environment
from ..errors import StepFailed
from ..model import Project
from . import pins as pinning
from . import files as file_values
from . import render, secrets, stack
from .converge import HEALTH_TIMEOUT, Running

Output = Callable[[str], None]
STACK = "com.docker.stack.namespace"
FAILED = ("failed", "rejected")


def _stack(environment: Environment) -> str:
    return render.project_name(environment.name)


def _manager(engine: Engine) -> None:
    why = engine.swarm_manager()
    if why is not None:
        raise StepFailed(why)


KINDS = ("secret", "config")


def _labels(environment: Environment) -> dict[str, str]:
    return {STACK: _stack(environment), stack.LABEL: environment.name}


def _listed(engine: Engine, kind: str, environment: Environment) -> list[dict[str, Any]]:
    found = (engine.secrets if kind == "secret" else engine.configs)(_labels(environment))
    return list(found)


def _sync(engine: Engine, kind: str, environment: Environment, wanted: Mapping[str, Path], output: Output) -> None:
    """Create each wanted object (name → the file holding its value) that does not exist yet."""
    existing = {item["Spec"]["Name"] for item in _listed(engine, kind, environment)}
    create = engine.create_secret if kind == "secret" else engine.create_config
    for name, path in sorted(wanted.items()):
        if name not in existing:
            create(name, path.read_bytes(), _labels(environment))
            output(f"created swarm {kind} {name}")


def _prune(engine: Engine, environment: Environment, keep: set[str], output: Output) -> None:
    """Remove the environment's secrets and configs not in `keep` that no service uses any more."""
    for kind in KINDS:
        remove = engine.remove_secret if kind == "secret" else engine.remove_config
        for item in _listed(engine, kind, environment):
            if item["Spec"]["Name"] not in keep and remove(item["ID"]):
                output(f"removed unused swarm {kind} {item['Spec']['Name']}")


def up(project: Project, engine: Engine, environment: Environment, output: Output) -> list[Running]:
    pins = pinning.read(project.settings.root, environment.name)
    secrets.check(environment)
    stack.check_pins(project, environment, pins)
    _manager(engine)
    objects = stack.swarm_secrets(environment)
    configs = file_values.swarm_configs(environment, _stack(environment))
    _sync(engine, "secret", environment, {secret.name: secret.path for secret in objects.values()}, output)
    _sync(engine, "config", environment, {config.name: config.path for config in configs.values()}, output)
    file = stack.write(project, environment, pins, objects, configs)
    output(f"rendered {file}")
    since = (datetime.now(timezone.utc) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    engine.stack_deploy(_stack(environment), file, output)
    found = wait_healthy(engine, environment, pins, since)
    _prune(engine, environment, {s.name for s in objects.values()} | {c.name for c in configs.values()}, output)
    return found


def _image_digest(image: str) -> str:
    return image.split("@", 1)[1] if "@" in image else "?"


def _of_spec(task: dict[str, Any], service_spec: dict[str, Any]) -> bool:
    """Whether a task runs the service's current spec (image, variables, secrets, placement, network)."""
    template, spec = service_spec.get("TaskTemplate") or {}, task.get("Spec") or {}
    return all(spec.get(key) == template.get(key) for key in ("ContainerSpec", "Placement", "Networks"))


def running(engine: Engine, environment: Environment) -> list[Running]:
    """Per service, its current task (the one Swarm wants running): node, state, digest."""
    prefix = _stack(environment) + "_"
    nodes = engine.node_names()
    found = []
    for service in engine.services(_stack(environment)):
        spec = service["Spec"]
        labels = spec.get("Labels") or {}
        instance = spec["Name"][len(prefix):] if spec["Name"].startswith(prefix) else spec["Name"]
        has_check = bool((spec.get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Healthcheck"))
        tasks = sorted(engine.tasks(service["ID"]), key=lambda t: t.get("UpdatedAt", ""), reverse=True)
        wanted = [t for t in tasks if t.get("DesiredState") == "running"] or tasks[:1]
        current = sorted(wanted, key=lambda t: not _of_spec(t, spec))  # the new task first, mid-update
        for task in current[:1]:
            status = task.get("Status") or {}
            state = status.get("State", "?") + ("" if _of_spec(task, spec) else " (previous spec)")
            health = ("healthy" if has_check else "none") if state == "running" else \
                ("starting" if state in ("starting", "assigned", "accepted", "preparing", "ready") else state)
            image = (task.get("Spec") or {}).get("ContainerSpec", {}).get("Image", "")
            found.append(Running(instance, labels.get("calvin.resource", "?"), task["ID"],
                                 labels.get("calvin.version", "?"), _image_digest(image), image, state, health,
                                 status.get("Err") or "", nodes.get(task.get("NodeID", ""), "—")))
    return sorted(found, key=lambda r: r.service)


def _update(service: dict[str, Any], since: str) -> dict[str, Any]:
    """The service's update status, when that update began with this deploy (else {})."""
    update = service.get("UpdateStatus") or {}
    return update if str(update.get("StartedAt", ""))[:19] >= since else {}


def _failures(engine: Engine, environment: Environment, since: str) -> tuple[dict[str, str], bool]:
    """(services that cannot reach what was deployed: rolled back, paused, or whose new tasks keep
    failing; whether an update or rollback is still under way)."""
    prefix = _stack(environment) + "_"
    failures, moving = {}, False
    for service in engine.services(_stack(environment)):
        spec, instance = service["Spec"], service["Spec"]["Name"][len(prefix):]
        update = _update(service, since)
        state, message = update.get("State", ""), str(update.get("Message", "")).strip()
        moving = moving or state in ("updating", "rollback_started")
        if state in ("rollback_completed", "rollback_paused", "paused"):
            failures[instance] = f"update {'paused' if state == 'paused' else 'rolled back'} ({message})"
            continue
        image = (spec.get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Image", "")
        failed = [t for t in engine.tasks(service["ID"]) if (t.get("Status") or {}).get("State") in FAILED
                  and (t.get("Spec") or {}).get("ContainerSpec", {}).get("Image") == image
                  and str(t.get("CreatedAt", ""))[:19] >= since]
        if len(failed) >= 3 and not state:
            failures[instance] = f"{len(failed)} tasks failed, last: {(failed[0].get('Status') or {}).get('Err', '?')}"
    return failures, moving


def wait_healthy(engine: Engine, environment: Environment, pins: dict[str, pinning.Pin], since: str,
                 timeout: float = HEALTH_TIMEOUT) -> list[Running]:
    """Every service runs what was deployed (its pinned digest, its current spec), healthy (or running,
    without a check) — bounded, with back-off; a rollback or repeated failure ends the wait."""
    deadline = time.monotonic() + timeout
    delay = 0.5
    expected = {instance: name for name, placement in environment.services.items()
                for instance in placement.instances}
    while True:
        found = running(engine, environment)
        ready = {r.service for r in found if r.service in expected and r.state == "running"
                 and r.digest == pins[expected[r.service]].digest}
        failures, moving = _failures(engine, environment, since)
        if set(expected) <= ready and not moving and not failures:
            return found
        if (failures and not moving) or time.monotonic() + delay > deadline:
            late = sorted(set(expected) - ready)
            detail = "; ".join(f"{r.service} on {r.node}: {r.state}" + (f" ({r.said})" if r.said else "")
                               for r in found if r.service in late)
            why = "; ".join(f"{name}: {text}" for name, text in sorted(failures.items())) or \
                f"not healthy within {timeout:g} s ({detail})"
            raise StepFailed(f"environment '{environment.name}': {', '.join(sorted(failures) or late)} failed — {why}")
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)


def down(engine: Engine, environment: Environment, volumes: bool, output: Output) -> None:
    _manager(engine)
    if not engine.services(_stack(environment)):
        raise StepFailed(f"environment '{environment.name}' runs no stack '{_stack(environment)}' on this swarm")
    engine.stack_rm(_stack(environment), output)
    deadline = time.monotonic() + 60
    while True:  # a secret or config can go once the tasks reading it are gone
        _prune(engine, environment, set(), output)
        left = [item for kind in KINDS for item in _listed(engine, kind, environment)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(1)
    if volumes:
        output("volumes live on each node of a swarm: remove them there (`docker volume rm`)")
