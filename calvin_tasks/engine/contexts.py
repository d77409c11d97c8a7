"""Docker contexts: which engine a named context points at, read the way the docker CLI reads it.

The engine Calvin talks to is DOCKER_HOST when set; otherwise the context DOCKER_CONTEXT names (a
context made with `docker context create NAME --docker host=ssh://admin@manager`, kept in the
Docker configuration folder, DOCKER_CONFIG or ~/.docker); otherwise the local socket. The docker
CLI's own current context (`docker context use`) is not followed: name it in DOCKER_CONTEXT.
The SDK is loaded only when a context is named, never on a plain run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import EngineUnavailable

VARIABLE = "DOCKER_CONTEXT"


@dataclass(frozen=True)
class Endpoint:
    context: str
    host: str
    tls: Any = None  # the SDK's TLSConfig, when the context holds TLS material


def named() -> str | None:
    """The context in effect: DOCKER_CONTEXT, unless DOCKER_HOST is set (it wins, as for the CLI)."""
    if os.environ.get("DOCKER_HOST"):
        return None
    name = os.environ.get(VARIABLE) or None
    return None if name == "default" else name


_RESOLVED: dict[tuple[str, str], Endpoint] = {}


def endpoint(name: str) -> Endpoint:
    """The docker endpoint of context `name`; a context that does not exist is an error naming it."""
    from docker.utils.config import find_config_file

    config = find_config_file()
    folder = os.path.dirname(str(config)) if config else (os.environ.get("DOCKER_CONFIG") or
                                                          os.path.join(os.path.expanduser("~"), ".docker"))
    if config is None:  # the SDK looks for contexts only beside a config.json; the CLI does not write one
        raise EngineUnavailable(
            f"the Docker context '{name}' ({VARIABLE}={name}) cannot be read: {folder} has no config.json, beside "
            f"which Docker's SDK looks for contexts — create it (`echo '{{}}' > {folder}/config.json`), or unset "
            f"{VARIABLE} and set DOCKER_HOST")
    key = (name, folder)
    if key not in _RESOLVED:
        from docker.context import ContextAPI
        from docker.errors import DockerException

        try:
            found = ContextAPI.get_context(name)
        except (DockerException, OSError, ValueError, KeyError) as err:
            raise EngineUnavailable(f"the Docker context '{name}' ({VARIABLE}) cannot be read from {folder}: "
                                    f"{err}") from None
        if found is None:
            raise EngineUnavailable(
                f"the Docker context '{name}' ({VARIABLE}={name}) does not exist in {folder}/contexts — "
                f"`docker context ls` lists the contexts there; create it with `docker context create {name} "
                f"--docker host=ssh://user@manager`, or unset {VARIABLE}")
        host = found.Host
        if not host:
            raise EngineUnavailable(f"the Docker context '{name}' ({VARIABLE}) has no docker endpoint")
        _RESOLVED[key] = Endpoint(name, str(host), found.TLSConfig)
    return _RESOLVED[key]
