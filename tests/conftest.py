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
    """Remove every container and image Calvin made under `namespace` (also registry-prefixed tags)."""
    import docker.errors

    for container in client.api.containers(all=True, filters={"label": f"calvin.namespace={namespace}"}):
        try:
            client.api.remove_container(container["Id"], force=True)
        except docker.errors.NotFound:
            pass
    for image in client.api.images():
        for tag in image.get("RepoTags") or []:
            parts = tag.split("/")
            if namespace in parts[:-1]:
                try:
                    client.api.remove_image(tag, force=True)
                except docker.errors.APIError:
                    pass


@pytest.fixture
def namespace(docker_client: Any) -> Iterator[str]:
    """A namespace of this test's own; everything made under it is removed afterwards."""
    name = f"calvin-test-{secrets.token_hex(4)}"
    yield name
    remove_namespace(docker_client, name)


# -- a real Docker Distribution registry, run as a host process --------------------------------

class RegistryProcess:
    """`docker-registry serve` on 127.0.0.1:<port> with filesystem storage under a temp folder.

    `.address` is what CALVIN_REGISTRY takes; `.stop()` and `.start()` keep port and storage, so
    a restarted registry holds everything pushed before."""

    MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"

    def __init__(self, folder: Any, port: int, startup_timeout: float = 20.0) -> None:
        from pathlib import Path

        self.folder = Path(folder)
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"
        self.startup_timeout = startup_timeout
        self.config = self.folder / "config.yml"
        self.log = self.folder / "registry.log"
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.folder / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n  secret: calvin-tests-only\n")
        self.process: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    def start(self) -> None:
        import shutil
        import time

        if self.process is not None and self.process.poll() is None:
            return
        binary = shutil.which("docker-registry")
        if binary is None:
            pytest.skip("docker-registry (Debian's Docker Distribution) is not installed: `make registry`")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([binary, "serve", str(self.config)], stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.answers() and self.process.poll() is None:
                return
            time.sleep(0.05)
        self.stop()
        tail = self.log.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"docker-registry did not answer on {self.address} within "
                           f"{self.startup_timeout:.0f} s; its log ends:\n" + "\n".join(tail))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    # -- reading what the registry holds (its HTTP API v2) ---------------------------------------
    def get(self, path: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.url + path, headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in (err.headers or {}).items()}, err.read()

    def tags(self, repository: str) -> list[str]:
        import json

        status, _, body = self.get(f"/v2/{repository}/tags/list")
        if status == 404:
            return []
        assert status == 200, f"GET /v2/{repository}/tags/list → {status}: {body[:200]!r}"
        return sorted(json.loads(body).get("tags") or [])

    def digest(self, repository: str, tag: str) -> str | None:
        """The Docker-Content-Digest of repository:tag's (schema 2) manifest, None when absent."""
        status, headers, body = self.get(f"/v2/{repository}/manifests/{tag}", self.MANIFEST_V2)
        if status == 404:
            return None
        assert status == 200, f"GET manifest {repository}:{tag} → {status}: {body[:200]!r}"
        return headers.get("docker-content-digest")

    def config_of(self, repository: str, tag: str) -> tuple[str, dict[str, Any]]:
        """repository:tag's config digest (the local image id once pulled) and its config JSON."""
        import json

        status, _, body = self.get(f"/v2/{repository}/manifests/{tag}", self.MANIFEST_V2)
        assert status == 200, f"GET manifest {repository}:{tag} → {status}: {body[:200]!r}"
        config_digest = json.loads(body)["config"]["digest"]
        status, _, blob = self.get(f"/v2/{repository}/blobs/{config_digest}")
        assert status == 200, f"GET config blob {config_digest} of {repository} → {status}"
        return config_digest, json.loads(blob)

    def labels(self, repository: str, tag: str) -> dict[str, str]:
        return dict((self.config_of(repository, tag)[1].get("config") or {}).get("Labels") or {})

    def snapshot(self, repository: str) -> dict[str, str | None]:
        """Every tag of `repository` and the manifest digest it points to."""
        return {tag: self.digest(repository, tag) for tag in self.tags(repository)}


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def registry(tmp_path: Any) -> Iterator[RegistryProcess]:
    """A fresh, empty registry of this test's own on 127.0.0.1 (plain HTTP: the engine treats
    127.0.0.0/8 registries as insecure); terminated afterwards, its storage goes with tmp_path."""
    for attempt in range(3):  # another process may take the free port before the registry binds it
        server = RegistryProcess(tmp_path / "registry", _free_port())
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()
