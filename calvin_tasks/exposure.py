"""What an image exposes, read from its Dockerfile (and its parents'), and the service checks
that wait on a port it does not expose.

Known statically: a docker resource's final stage's EXPOSE lines, plus what it inherits — the
stage it builds on, or its parent resource through `FROM ${BASE_IMAGE}`. A rootfs image exposes
nothing (build.image has no ports). Not known: an EXPOSE written with a variable (`EXPOSE
$PORT`), a final stage built on an outside image; then no port is judged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from . import dockerfile
from .errors import Problem, display_path
from .model import Resource

_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)
MAX_RANGE = 65535


@dataclass(frozen=True)
class Exposure:
    ports: frozenset[str]  # "8080/tcp"
    known: bool = True


UNKNOWN = Exposure(frozenset(), known=False)


def _ports(arguments: str) -> set[str] | None:
    found: set[str] = set()
    for word in arguments.split():
        match = _PORT.match(word)
        if match is None:
            return None  # a variable, or something Docker would refuse: not known here
        low, high, protocol = int(match.group(1)), int(match.group(2) or match.group(1)), (match.group(3) or "tcp")
        found.update(f"{port}/{protocol.lower()}" for port in range(low, min(high, MAX_RANGE) + 1))
    return found


def own_exposure(path: Path) -> tuple[Exposure, bool]:
    """What the Dockerfile's final stage exposes itself, and whether it builds on BASE_IMAGE
    (then it also inherits its parent's ports)."""
    try:
        instructions = dockerfile.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return UNKNOWN, False
    stages: list[tuple[str, str | None, list[dockerfile.Instruction]]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            image, alias = dockerfile.from_parts(ins.arguments)
            stages.append((image, alias, []))
        elif stages:
            stages[-1][2].append(ins)
    ports: set[str] = set()
    index = len(stages) - 1
    while index >= 0:  # the final stage, then the stage it is built FROM, and so on
        image, _, body = stages[index]
        for ins in body:
            if ins.keyword == "EXPOSE":
                found = _ports(ins.arguments)
                if found is None:
                    return UNKNOWN, False
                ports |= found
        earlier = [i for i in range(index) if (stages[i][1] or "").lower() == image.lower()]
        if earlier:
            index = earlier[-1]
            continue
        if image.lower() == "scratch":
            return Exposure(frozenset(ports)), False
        if image in dockerfile.BASE_REFS:
            return Exposure(frozenset(ports)), True
        return UNKNOWN, False  # an outside image (reported elsewhere)
    return UNKNOWN, False


def exposure(resources: Mapping[str, Resource], name: str) -> Exposure:
    """Every port the image of `name` exposes, its parents' included."""
    ports: set[str] = set()
    seen: set[str] = set()
    current: str | None = name
    while current is not None and current not in seen:
        seen.add(current)
        resource = resources.get(current)
        if resource is None:
            return UNKNOWN  # an unknown parent (reported elsewhere)
        if resource.build.builder == "rootfs":  # build.image declares no ports: nothing exposed
            return Exposure(frozenset(ports), known=current != name)  # a rootfs image itself: not judged
        own, inherits = own_exposure(resource.folder / resource.build.dockerfile)
        if not own.known:
            return UNKNOWN
        ports |= own.ports
        current = resource.base if inherits else None
    return Exposure(frozenset(ports), known=current is None)


def check_service_ports(resources: Mapping[str, Resource], root: Path) -> list[Problem]:
    """A service check of the image's own command waiting on a port the image does not expose, at
    its line in tests.yaml."""
    problems: list[Problem] = []
    for name in sorted(resources):
        resource = resources[name]
        # a check that starts its own `command` listens where that command does, not where the image says
        services = [check for check in resource.checks if check.kind == "service" and not check.spec.get("command")]
        if not services or resource.tests is None:
            continue
        exposed = exposure(resources, name)
        if not exposed.known:
            continue
        for check in services:
            port = f"{int(check.spec['port'])}/tcp"
            if port in exposed.ports:
                continue
            listed = ", ".join(sorted(exposed.ports, key=lambda p: int(p.split("/")[0]))) or "no port"
            problems.append(Problem(
                display_path(resource.tests, root), f"service check '{check.name}' waits on port {port}, "
                f"which the image does not expose (it exposes {listed})", line=check.line, resource=name,
                key_path=None, hint=f"add 'EXPOSE {port}' to the Dockerfile, or check a port the image exposes"))
    return problems
