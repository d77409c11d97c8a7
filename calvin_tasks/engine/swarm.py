"""Docker Swarm through the manager the engine address names (DOCKER_HOST or a context): stacks,
services, tasks, nodes, secrets and configs.

`docker stack deploy` / `docker stack rm` run as the docker CLI (the stack file is its format);
everything else goes through the SDK via the transport, so errors become Calvin's EngineError.
Secret values pass from the secret store to the manager's API and nowhere else.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import StepFailed
from . import contexts
from .transport import Transport, address

COMMAND = "docker"
STACK_LABEL = "com.docker.stack.namespace"


class SwarmApi:
    transport: Transport

    def _swarm(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.transport.call(what, getattr(self.transport.api, method), *args, **kwargs)

    def swarm_manager(self) -> str | None:
        """Why this engine cannot deploy a stack (not in a swarm, not a manager), or None."""
        info = self._swarm("read the engine's swarm state", "info").get("Swarm") or {}
        if info.get("LocalNodeState") != "active":
            return (f"the engine at {address()} is not part of a swarm (`docker swarm init` makes it a one-node "
                    "swarm; DOCKER_HOST or DOCKER_CONTEXT names a manager)")
        if not info.get("ControlAvailable"):
            return f"the engine at {address()} is a swarm worker, not a manager: DOCKER_HOST or DOCKER_CONTEXT must name a manager"
        return None

    def _cli(self, args: list[str], output: Callable[[str], None], timeout: float = 600) -> None:
        binary = shutil.which(COMMAND)
        if binary is None:
            raise StepFailed("the docker CLI is not installed (Debian's docker.io) — `docker stack` needs it")
        environment = dict(os.environ, DOCKER_HOST=address())
        if contexts.named() is not None:  # the CLI reads the same context, TLS material included
            del environment["DOCKER_HOST"]
        try:
            done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, env=environment)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"docker {' '.join(args[:2])} did not finish within {timeout:g} s") from None
        lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        for line in lines:
            output(line)
        if done.returncode != 0:
            raise StepFailed(f"docker {' '.join(args[:2])} failed (exit {done.returncode}): " + " | ".join(lines[-5:]))

    def stack_deploy(self, stack: str, file: Path, output: Callable[[str], None]) -> None:
        """Create or update the stack's services; images are pinned by digest, never resolved again."""
        self._cli(["stack", "deploy", "--prune", "--resolve-image", "never", "--with-registry-auth",
                   "-c", str(file), stack], output)

    def stack_rm(self, stack: str, output: Callable[[str], None]) -> None:
        self._cli(["stack", "rm", stack], output)

    def services(self, stack: str) -> list[dict[str, Any]]:
        return list(self._swarm("list the stack's services", "services", filters={"label": f"{STACK_LABEL}={stack}"}))

    def tasks(self, service_id: str) -> list[dict[str, Any]]:
        return list(self._swarm("list a service's tasks", "tasks", filters={"service": service_id}))

    def node_names(self) -> dict[str, str]:
        """node id → host name."""
        return {node["ID"]: (node.get("Description") or {}).get("Hostname", node["ID"][:12])
                for node in self._swarm("list the swarm's nodes", "nodes")}

    def secrets(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        return self._swarm_objects("secret", labels)

    def create_secret(self, name: str, data: bytes, labels: Mapping[str, str]) -> None:
        self._create_object("secret", name, data, labels)

    def remove_secret(self, secret_id: str) -> bool:
        """Remove a secret; False when a service still uses it (Swarm refuses)."""
        return self._remove_object("secret", secret_id)

    def configs(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        return self._swarm_objects("config", labels)

    def create_config(self, name: str, data: bytes, labels: Mapping[str, str]) -> None:
        self._create_object("config", name, data, labels)

    def remove_config(self, config_id: str) -> bool:
        """Remove a config; False when a service still uses it (Swarm refuses)."""
        return self._remove_object("config", config_id)

    # secrets and configs: the same API under two names
    def _swarm_objects(self, kind: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        return list(self._swarm(f"list {kind}s", f"{kind}s", filters=filters))

    def _create_object(self, kind: str, name: str, data: bytes, labels: Mapping[str, str]) -> None:
        self._swarm(f"create {kind} {name}", f"create_{kind}", name, data, labels=dict(labels))

    def _remove_object(self, kind: str, object_id: str) -> bool:
        from ..errors import EngineError

        try:
            self._swarm(f"remove a {kind}", f"remove_{kind}", object_id)
        except EngineError as err:
            if "in use" in str(err):
                return False
            raise
        return True
