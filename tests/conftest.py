"""Fixtures: a real Docker engine for integration tests, with per-test namespaces and cleanup."""
from __future__ import annotations

import os
import secrets
import subprocess
from typing import Any, Iterator

import pytest

from helpers import REPO


def _engine_client() -> Any:
    import docker

    client = docker.from_env(timeout=300)
    client.ping()
    return client


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """The real engine. In CI it must be there (`make test` starts it); elsewhere we try to start
    it with `make engine`, and skip only when no engine can be started on this machine."""
    try:
        client = _engine_client()
    except Exception:
        started = subprocess.run([str(REPO / "scripts" / "engine.sh")], capture_output=True, text=True)
        try:
            client = _engine_client()
        except Exception as err:
            reason = (started.stderr or started.stdout).strip().splitlines()[-1:] or [str(err)]
            if os.environ.get("CI"):
                pytest.fail(f"CI needs a Docker engine and none could be started: {reason[0]}")
            pytest.skip(f"no Docker engine can be started on this machine: {reason[0]}")
    yield client
    client.close()


def remove_namespace(client: Any, namespace: str) -> None:
    """Remove every container and image Calvin made under `namespace`."""
    for container in client.containers.list(all=True, filters={"label": f"calvin.namespace={namespace}"}):
        container.remove(force=True)
    for image in client.images.list():
        tags = [t for t in image.tags if t.split("/", 1)[0] == namespace
                or (t.count("/") >= 2 and t.split("/")[1] == namespace)]
        for tag in tags:
            try:
                client.images.remove(tag, force=True)
            except Exception:
                pass


@pytest.fixture
def namespace(docker_client: Any) -> Iterator[str]:
    """A namespace of this test's own; everything made under it is removed afterwards."""
    name = f"calvin-test-{secrets.token_hex(4)}"
    yield name
    remove_namespace(docker_client, name)
    docker_client.images.prune(filters={"dangling": True})
