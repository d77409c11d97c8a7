"""The only package that talks to Docker: a thin facade over images and containers.

    transport.py   the one place SDK, requests and socket errors become Calvin's EngineError
    images.py      find, build, import, tag, push, pull
    containers.py  limited, labelled check containers, always removed
    swarm.py       Docker Swarm: stacks, services, tasks, nodes, secrets, configs
    contexts.py    the engine a Docker context (DOCKER_CONTEXT) names
"""
from __future__ import annotations

import threading

from .containers import ContainerApi, Limits, Outcome, PathInfo, Service
from .images import ImageApi, ImageInfo, Output
from .swarm import SwarmApi
from .transport import DEFAULT_HOST, Transport, address, socket_path

__all__ = ["DEFAULT_HOST", "Engine", "ImageInfo", "Limits", "Outcome", "Output", "PathInfo", "Service",
           "address"]


class Engine(ImageApi, ContainerApi, SwarmApi):
    """A connection to the Docker engine, opened on first use."""

    def __init__(self, client: object = None) -> None:
        self.transport = Transport(client)
        self._lock = threading.Lock()
        self._known = {}

    def ping(self) -> None:
        """Check the engine answers; on a local socket without loading the Docker SDK (a no-op run
        never needs it)."""
        if socket_path() is not None and not self.transport.sdk_loaded:
            status, _ = self.transport.get("/_ping")
            if status != 200:
                from ..errors import EngineError

                raise EngineError(f"the Docker engine at {address()} answered {status} to a ping")
        else:
            self.transport.api  # noqa: B018 - connecting is the check
