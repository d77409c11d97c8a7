"""Fixtures: a real Docker engine for integration tests, per-test namespaces with cleanup, and a
registry of a test's own. Plain helpers live in helpers.py; only fixtures belong here."""
from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from catalogue_build import BUILD_TIMEOUT, Catalogue
from helpers import REPO, RegistryProcess, registry_installed, remove_namespace, run_doit, start_registry


def _engine_client() -> Any:
    import docker

    client = docker.from_env(timeout=300)
    client.ping()
    return client


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """The real engine. In CI it must be there (`make test` starts it); elsewhere we try to start
    it with `make engine`, and skip only when no engine can be started on this machine."""
    from docker.errors import DockerException

    # docker-py wraps most failures in DockerException; a refused or missing socket can surface as
    # requests' ConnectionError, an OSError.
    unreachable = (DockerException, OSError)
    try:
        client = _engine_client()
    except unreachable:
        started = subprocess.run([str(REPO / "scripts" / "engine.sh")], capture_output=True, text=True)
        try:
            client = _engine_client()
        except unreachable as err:
            reason = (started.stderr or started.stdout).strip().splitlines()[-1:] or [str(err)]
            if os.environ.get("CI"):
                pytest.fail(f"CI needs a Docker engine and none could be started: {reason[0]}")
            pytest.skip(f"no Docker engine can be started on this machine: {reason[0]}")
    yield client
    client.close()


@pytest.fixture
def namespace(docker_client: Any) -> Iterator[str]:
    """A namespace of this test's own; everything made under it is removed afterwards."""
    name = f"calvin-test-{secrets.token_hex(4)}"
    yield name
    remove_namespace(docker_client, name)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    """A fresh, empty registry of this test's own on 127.0.0.1 (plain HTTP: the engine treats
    127.0.0.0/8 registries as insecure); terminated afterwards, its storage goes with tmp_path."""
    if not registry_installed():
        pytest.skip("docker-registry (Debian's Docker Distribution) is not installed: `make registry`")
    server = start_registry(tmp_path / "registry")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def catalogue(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    """`doit` over the real repository: the whole catalogue, under a namespace of its own, with its
    own doit database and output folder — built once per session, shared by tests/test_catalogue.py
    and tests/test_swarm_catalogue_engine.py; that namespace's images and containers go afterwards."""
    from calvin_tasks.project import load_project

    namespace = f"calvin-catalogue-{secrets.token_hex(4)}"
    folder = tmp_path_factory.mktemp("catalogue")
    project = load_project(REPO)
    try:
        started = time.monotonic()
        result = run_doit(REPO, "--db-file", str(folder / "doit.sqlite3"), namespace=namespace,
                          env={"CALVIN_OUTPUT": str(folder / "out")}, timeout=BUILD_TIMEOUT)
        yield Catalogue(namespace, folder / "out", project, result, time.monotonic() - started)
    finally:
        remove_namespace(docker_client, namespace)
