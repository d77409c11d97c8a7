"""Bring an environment to its pins and values (up), compare what runs with them (status), stop it
(down). Compose does the work; Calvin renders, then waits — bounded, with back-off — for every
service's health check and reports each service's version and health.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..engine import Engine
from ..engine.compose import Compose
from ..environments import Environment
from ..errors import StepFailed
from ..model import Project
from . import pins as pinning
from . import render, secrets

Output = Callable[[str], None]
HEALTH_TIMEOUT = 300.0


@dataclass(frozen=True)
class Running:
    """One instance as the engine sees it."""

    service: str       # the instance (compose service) name
    resource: str
    container: str
    version: str
    digest: str
    image: str         # the image id it runs
    state: str         # running | exited | …
    health: str        # healthy | unhealthy | starting | none
    said: str = ""     # the last health check's output
    node: str = ""     # the swarm node it runs on (deploy: swarm)


def compose_for(project: Project, environment: Environment) -> Compose:
    return Compose(render.project_name(environment.name), render.folder(project, environment.name) /
                   "docker-compose.yml")


def running(project: Project, engine: Engine, environment: Environment) -> list[Running]:
    if environment.deploy == "swarm":
        from . import swarm

        return swarm.running(engine, environment)
    found = []
    for item in engine.containers({"com.docker.compose.project": render.project_name(environment.name)}):
        details = engine.inspect_container(item["Id"])
        labels = details["Config"].get("Labels") or {}
        state = details.get("State") or {}
        health = state.get("Health") or {}
        said = ((health.get("Log") or [{}])[-1].get("Output") or "").strip()[-300:]
        found.append(Running(labels.get("com.docker.compose.service", "?"), labels.get("calvin.resource", "?"),
                             item["Id"], labels.get("calvin.version", "?"), labels.get("calvin.digest", "?"),
                             details.get("Image", ""), state.get("Status", "?"), health.get("Status", "none"), said))
    return sorted(found, key=lambda r: r.service)


def up(project: Project, engine: Engine, environment: Environment, output: Output) -> list[Running]:
    if environment.deploy == "swarm":
        from . import swarm

        return swarm.up(project, engine, environment, output)
    pins = pinning.read(project.settings.root, environment.name)
    created, _ = secrets.ensure(environment)  # as `doit secrets <env>` would: random values, never printed
    if created:
        output(f"created {len(created)} missing secret(s) in {secrets.store(environment.name)}: {', '.join(created)}")
    secrets.check(environment)
    file = render.write(project, environment, pins)
    output(f"rendered {file}")
    compose_for(project, environment).up(output)
    return wait_healthy(project, engine, environment, output)


def wait_healthy(project: Project, engine: Engine, environment: Environment, output: Output,
                 timeout: float = HEALTH_TIMEOUT) -> list[Running]:
    """Every instance running, and healthy where it has a health check; bounded, with back-off."""
    deadline = time.monotonic() + timeout
    delay = 0.5
    expected = {instance for placement in environment.services.values() for instance in placement.instances}
    while True:
        found = running(project, engine, environment)
        ready = {r.service for r in found if r.state == "running" and r.health in ("healthy", "none")}
        failed = [r for r in found if r.health == "unhealthy" or r.state in ("exited", "dead")]
        if expected <= ready:
            return found
        if failed or time.monotonic() + delay > deadline:
            late = sorted(expected - ready)
            detail = "; ".join(f"{r.service}: {r.state}, {r.health}" + (f" ({r.said})" if r.said else "")
                               for r in found if r.service in late)
            logs = "".join(f"\n  --- {r.service}\n" + "\n".join(f"  | {line}" for line in
                                                             engine.logs(r.container, tail=15).splitlines())
                           for r in found if r.service in late)
            why = "unhealthy" if failed else f"not healthy within {timeout:g} s"
            raise StepFailed(f"environment '{environment.name}': {', '.join(late)} {why} ({detail}){logs}")
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)


def drift(pins: dict[str, pinning.Pin], environment: Environment, found: list[Running]) -> list[str]:
    """How what runs differs from the pins: missing, extra, or another version or digest."""
    problems = []
    by_service = {r.service: r for r in found}
    for name, placement in sorted(environment.services.items()):
        pin = pins.get(name)
        for instance in placement.instances:
            item = by_service.pop(instance, None)
            if item is None:
                problems.append(f"{instance} is not running")
            elif pin is None:
                problems.append(f"{instance} runs {name}, which the pins do not name")
            elif item.digest != pin.digest:
                problems.append(f"{instance} runs {name} {item.version} ({item.digest[:19]}), pinned "
                                f"{pin.version} ({pin.digest[:19]})")
    problems += [f"{service} runs but the environment has no such instance" for service in sorted(by_service)]
    return problems


def down(project: Project, environment: Environment, volumes: bool, output: Output,
         engine: Engine | None = None) -> None:
    if environment.deploy == "swarm":
        from . import swarm

        return swarm.down(engine or Engine(), environment, volumes, output)
    compose = compose_for(project, environment)
    if not compose.file.is_file():
        raise StepFailed(f"environment '{environment.name}' was never brought up here ({compose.file} does not exist)")
    compose.down(volumes, output)
