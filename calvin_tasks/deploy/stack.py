"""An environment and its pins → a Docker Swarm stack file (`deploy: swarm`).

The same model as the compose file: each instance is one service (replicas: 1) named after it and
given its host name, answering to its resource's name on the environment's overlay network. What
differs is what a cluster needs: images only by registry digest (every node pulls them; nothing is
built on a node), `endpoint_mode: dnsrr` (service virtual IPs do not route on every host), host-mode
published ports, placement constraints and spread per resource, rolling updates that roll back on a
failed health check, and secrets as Swarm secrets, file values as Swarm configs (files.py), both
named by their content's hash — a changed value is a new object, so exactly the services reading it
roll. The stack file names secrets; it never holds a value.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..environments import Environment, runtime_environment
from ..errors import CalvinError, display_path
from ..files import write_atomic
from ..model import Project
from . import pins as pinning
from . import files as file_values
from . import render, secrets
from .files import SwarmConfig
from .pins import Pin

NETWORK = "calvin"
LABEL = "calvin.environment"
MONITOR = "10s"  # how long Swarm watches a new task before the next one (a failure within: roll back)


@dataclass(frozen=True)
class SwarmSecret:
    key: str      # the secret's name in the store and under /run/secrets in the container
    name: str     # the Swarm object: <stack>_<key>_<hash8 of the value> (files.object_name: ≤ 64 characters)
    path: Path    # its file in the secret store


def swarm_secrets(environment: Environment) -> dict[str, SwarmSecret]:
    """Every secret the environment reads, named by its content's hash (read from the store here and
    nowhere else; only the hash leaves this function)."""
    stack = render.project_name(environment.name)
    found = {}
    for key in secrets.names(environment):
        path = secrets.path(environment, key)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
        safe = re.sub(r"[^a-zA-Z0-9_.-]+", "-", key).strip("-.")
        found[key] = SwarmSecret(key, file_values.object_name(stack, safe, "_", digest), path)
    return found


def check_pins(project: Project, environment: Environment, pins: Mapping[str, Pin]) -> None:
    """A swarm pulls every image by digest from the release registry: local-only pins cannot run there."""
    local = sorted(name for name, pin in pins.items() if name in environment.services and "@" not in pin.image)
    if local:
        file = display_path(pinning.path(project.settings.root, environment.name), project.settings.root)
        raise CalvinError(f"environment '{environment.name}' deploys to a swarm, but {file} pins local images only "
                          f"({', '.join(local)}): every node pulls its images by digest from the release registry — "
                          f"set CALVIN_REGISTRY (or `registry:` in configs/pipeline.yaml) to a registry every node "
                          f"reaches, run `doit` to release there, then `doit pin {environment.name}`")


def _deploy(environment: Environment, name: str, pin: Pin, published: bool) -> dict[str, Any]:
    placement = environment.services[name]
    spec: dict[str, Any] = {
        "replicas": 1,
        "endpoint_mode": "dnsrr",
        "restart_policy": {"condition": "any", "delay": "5s"},
        # a host port cannot be held by two tasks on one node: then the old task stops first
        "update_config": {"parallelism": 1, "order": "stop-first" if published else "start-first",
                          "failure_action": "rollback", "monitor": MONITOR, "max_failure_ratio": 0},
        "rollback_config": {"parallelism": 1, "order": "stop-first", "monitor": MONITOR},
        "labels": {LABEL: environment.name, "calvin.resource": name, "calvin.version": pin.version,
                   "calvin.digest": pin.digest},
    }
    where: dict[str, Any] = {}
    if placement.constraints:
        where["constraints"] = list(placement.constraints)
    if placement.spread:
        where["preferences"] = [{"spread": placement.spread}]
    if where:
        spec["placement"] = where
    return spec


def render_stack(project: Project, environment: Environment, pins: Mapping[str, Pin],
                 objects: Mapping[str, SwarmSecret],
                 configs: Mapping[str, SwarmConfig] | None = None) -> dict[str, Any]:
    check_pins(project, environment, pins)
    if configs is None:
        configs = file_values.swarm_configs(environment, render.project_name(environment.name))
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    used: set[str] = set()
    used_configs: set[str] = set()
    for name, placement in environment.services.items():
        resource = project.resources[name]
        pin = render.pin_of(environment, pins, name)
        variables = runtime_environment(environment, resource, render.SECRETS_IN_CONTAINER)
        reads = [objects[key] for key in secrets.names(environment, resource)]
        used.update(secret.key for secret in reads)
        files = [configs[key] for key in file_values.names(environment, resource)]
        used_configs.update(config.key for config in files)
        mounts, needed = render.volume_mounts(resource, placement)
        volumes.update(needed)
        for instance in placement.instances:
            service: dict[str, Any] = {
                "image": pin.image,
                "hostname": instance,
                "environment": dict(sorted(variables.items())),
                "networks": {NETWORK: {"aliases": [name]}},
                "deploy": _deploy(environment, name, pin, bool(placement.publish)),
            }
            if reads:
                service["secrets"] = [{"source": secret.name, "target": secret.key, "uid": str(secrets.SERVICE_UID),
                                       "gid": str(secrets.SERVICE_UID), "mode": 0o400} for secret in reads]
            if files:
                service["configs"] = [{"source": config.name, "target": config.target, "uid": "0", "gid": "0",
                                       "mode": file_values.MODE} for config in files]
            if mounts:
                service["volumes"] = mounts
            if placement.publish:
                service["ports"] = [{"target": port, "published": int(host.rsplit(":", 1)[-1]), "protocol": "tcp",
                                     "mode": "host"} for port, host in sorted(placement.publish.items())]
            check = render.healthcheck(resource)
            if check is not None:
                service["healthcheck"] = check
            services[instance] = service
    document: dict[str, Any] = {"version": "3.8", "services": services,
                                "networks": {NETWORK: {"driver": "overlay", "attachable": True}}}
    if used:
        document["secrets"] = {objects[key].name: {"external": True, "name": objects[key].name}
                               for key in sorted(used)}
    if used_configs:
        document["configs"] = {configs[key].name: {"external": True, "name": configs[key].name}
                               for key in sorted(used_configs)}
    if volumes:
        document["volumes"] = volumes
    return document


def write(project: Project, environment: Environment, pins: Mapping[str, Pin],
          objects: Mapping[str, SwarmSecret], configs: Mapping[str, SwarmConfig] | None = None) -> Path:
    """out/environments/<env>/stack.yml; its path."""
    document = render_stack(project, environment, pins, objects, configs)
    file = render.folder(project, environment.name) / "stack.yml"
    header = (f"# Rendered by Calvin from {environment.display} and configs/pins/{environment.name}.yaml "
              f"(`doit up:{environment.name}`, deploy: swarm). Do not edit: it is rewritten on every run.\n")
    write_atomic(file, header + yaml.safe_dump(document, sort_keys=False))
    return file
