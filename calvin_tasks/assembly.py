"""An environment's assembly: which resources run, how many instances, published ports, volumes.

What an image needs at run time (ports, volumes, health) belongs to the resource (`runtime:` in
resource.yaml); what differs per environment belongs to the environment (`services:`). This
module joins the two and reports every mismatch with its file and line.
"""
from __future__ import annotations

from typing import Any, Mapping

from .errors import Problem
from .model import Placement, Resource
from .schema import suggest
from .source import YamlDocument


def placements(document: YamlDocument, resources: Mapping[str, Resource]) -> tuple[dict[str, Placement],
                                                                                   list[Problem]]:
    """The `services:` of an environment file, checked against the resources they name."""
    problems: list[Problem] = []
    found: dict[str, Placement] = {}
    names: dict[str, str] = {}  # host name → the service that has it

    def problem(path: tuple[str | int, ...], message: str, hint: str | None = None, resource: str | None = None) -> None:
        problems.append(Problem(document.display, message, line=document.line_of(path), resource=resource,
                                key_path=".".join(str(p) for p in path), hint=hint))

    for name, spec in ((document.data or {}).get("services") or {}).items():
        spec = spec or {}
        where = ("services", name)
        resource = resources.get(name)
        if resource is None:
            problem(where, f"unknown resource '{name}'", suggest(name, resources) or "create it under resources/")
            continue
        runtime = resource.runtime
        instances = tuple(spec.get("instances") or [name])
        for instance in instances:
            if instance in names or (instance in resources and instance != name):
                other = names.get(instance, instance)
                problem(where + ("instances",), f"the host name '{instance}' is also {other}'s",
                        "give every instance a name of its own", name)
            names[instance] = name
        publish: dict[int, str] = {}
        for port, host in (spec.get("publish") or {}).items():
            if runtime.ports and int(port) not in runtime.ports:
                problem(where + ("publish", port), f"{name} serves no port {port} (runtime.ports: "
                        f"{', '.join(map(str, runtime.ports))})", f"publish one of them, see {resource.where('runtime')}",
                        name)
            publish[int(port)] = str(host)
        volumes = dict(spec.get("volumes") or {})
        for volume in volumes:
            if volume not in runtime.volumes:
                problem(where + ("volumes", volume), f"{name} keeps no volume '{volume}'",
                        suggest(volume, runtime.volumes) or f"declare it under runtime.volumes in {resource.display}",
                        name)
        placement: Any = spec.get("placement") or {}
        found[name] = Placement(name, instances, publish, volumes, tuple(placement.get("constraints") or ()),
                                placement.get("spread"))
    return found, problems
