"""An environment and its pins → a compose file (images by digest) and per-service environment files.

Each instance is one compose service named after it (its host name); a resource's services also
answer to the resource's name on the environment's network. Environment files hold the values
and the paths of secrets, never a secret's value: each secret file is bind-mounted read-only from
the secret store, each file value (files.py) from the repository. A label carries a digest of the
values, secrets and files a service reads, so a changed value replaces exactly the services that
read it — and nothing else.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..environments import Environment, runtime_environment
from ..errors import CalvinError
from ..model import Placement, Project, Resource
from . import files as file_values
from . import secrets
from .pins import Pin

LABEL = "calvin.environment"
SECRETS_IN_CONTAINER = "/run/secrets"


def project_name(environment: str) -> str:
    import os

    return os.environ.get("CALVIN_COMPOSE_PROJECT") or f"calvin-{environment}"


def folder(project: Project, environment: str) -> Path:
    return project.settings.output / "environments" / environment


def env_file(environment: Environment, resource: Resource) -> str:
    lines = []
    for variable, text in sorted(runtime_environment(environment, resource, SECRETS_IN_CONTAINER).items()):
        if "\n" in text:
            raise CalvinError(f"{environment.display}: the value of {variable} holds a newline, which an "
                              "environment file cannot carry")
        lines.append(f"{variable}={text}")
    return "\n".join(lines) + "\n"


def healthcheck(resource: Resource) -> dict[str, Any] | None:
    """The container's health check, from the smoke-test service check runtime.health names."""
    if resource.runtime.health is None:
        return None
    check = next(c for c in resource.checks if c.kind == "service" and c.name == resource.runtime.health)
    port = int(check.spec["port"])
    http = check.spec.get("http")
    # run with the image's curl (base-linux ships it)
    if http is None:  # the port accepting a connection is enough
        command = (f"curl -s --max-time 2 -o /dev/null telnet://127.0.0.1:{port} </dev/null; rc=$?; "
                   "test $rc -eq 0 -o $rc -eq 28")
    else:
        command = (f"test \"$(curl -s -o /dev/null --max-time 4 -w '%{{http_code}}' "
                   f"http://127.0.0.1:{port}{http.get('path', '/')})\" = {int(http.get('status', 200))}")
    # compose interpolates $VARIABLES in the file: $$ is a literal $ for the shell
    return {"test": ["CMD-SHELL", command.replace("$", "$$")], "interval": "5s", "timeout": "5s", "retries": 3,
            "start_period": f"{int(float(check.spec.get('timeout', 60)))}s"}


def volume_mounts(resource: Resource, placement: Placement) -> tuple[list[str], dict[str, Any]]:
    """(the service's volume mounts `docker volume:path`, the file's `volumes:` entries they need) —
    the same for Compose and a stack file."""
    mounts: list[str] = []
    volumes: dict[str, Any] = {}
    for volume, docker_volume in sorted(placement.volumes.items()):
        mounts.append(f"{docker_volume}:{resource.runtime.volumes[volume]}")
        volumes[docker_volume] = {"name": docker_volume}
    return mounts, volumes


def pin_of(environment: Environment, pins: Mapping[str, Pin], name: str) -> Pin:
    """The pin of a service the environment runs; a service the pins do not name is an error."""
    pin = pins.get(name)
    if pin is None:
        raise CalvinError(f"environment '{environment.name}' runs {name}, which its pins do not name — "
                          f"run `doit pin {environment.name}`")
    return pin


def render(project: Project, environment: Environment, pins: Mapping[str, Pin]) -> tuple[dict[str, Any],
                                                                                       dict[str, str]]:
    """(the compose document, {env file name: content})."""
    services: dict[str, Any] = {}
    files: dict[str, str] = {}
    volumes: dict[str, Any] = {}
    for name, placement in environment.services.items():
        resource = project.resources[name]
        pin = pin_of(environment, pins, name)
        files[f"{name}.env"] = env_file(environment, resource)
        config = hashlib.sha256(files[f"{name}.env"].encode()).hexdigest()[:16]
        mounts = [f"{secrets.path(environment, secret)}:{SECRETS_IN_CONTAINER}/{secret}:ro"
                  for secret in secrets.names(environment, resource)] + file_values.mounts(environment, resource)
        kept, needed = volume_mounts(resource, placement)
        mounts += kept
        volumes.update(needed)
        labels = {LABEL: environment.name, "calvin.resource": name, "calvin.version": pin.version,
                  "calvin.digest": pin.digest, "calvin.config": config,
                  "calvin.secrets": secrets.fingerprint(environment, resource)}
        if file_values.names(environment, resource):
            labels["calvin.files"] = file_values.fingerprint(environment, resource)
        for instance in placement.instances:
            service: dict[str, Any] = {
                "image": pin.image,
                "hostname": instance,
                "env_file": [f"env/{name}.env"],
                "volumes": mounts,
                "restart": "unless-stopped",
                "networks": {"default": {"aliases": [name]}},
                "labels": dict(labels),
            }
            if placement.publish:
                service["ports"] = [f"{host}:{port}" for port, host in sorted(placement.publish.items())]
            check = healthcheck(resource)
            if check is not None:
                service["healthcheck"] = check
            services[instance] = service
    document: dict[str, Any] = {"version": "2.4", "services": services}
    if volumes:
        document["volumes"] = volumes
    return document, files


def write(project: Project, environment: Environment, pins: Mapping[str, Pin]) -> Path:
    """Write out/environments/<env>/docker-compose.yml and env/<resource>.env; the compose file's path."""
    from ..files import write_atomic

    document, files = render(project, environment, pins)
    target = folder(project, environment.name)
    for file_name, content in files.items():
        write_atomic(target / "env" / file_name, content)
    compose = target / "docker-compose.yml"
    header = (f"# Rendered by Calvin from {environment.display} and configs/pins/{environment.name}.yaml "
              f"(`doit up:{environment.name}`). Do not edit: it is rewritten on every run.\n")
    write_atomic(compose, header + yaml.safe_dump(document, sort_keys=False))
    return compose
