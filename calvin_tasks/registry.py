"""A Docker Distribution registry read over its HTTP API (v2): manifests, configs, labels.

Only reads: pushes go through the engine (engine.push), which owns the image data.
"""
from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import RegistryUnavailable

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


@dataclass(frozen=True)
class RemoteImage:
    """An image in the registry: its manifest digest and its config's labels."""

    reference: str
    digest: str
    config_digest: str
    labels: Mapping[str, str]


class Registry:
    def __init__(self, address: str, timeout: float = 10.0) -> None:
        self.address = address
        host = address.split(":", 1)[0]
        local = host in ("localhost", "::1") or host.startswith("127.")
        self.base = f"{'http' if local else 'https'}://{address}"
        self.timeout = timeout
        self._configs: dict[str, Mapping[str, str]] = {}
        self._images: dict[tuple[str, str], RemoteImage | None] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            host = self.base.split("://", 1)[1]
            kind = http.client.HTTPConnection if self.base.startswith("http:") else http.client.HTTPSConnection
            connection = self._local.connection = kind(host, timeout=self.timeout)
        return connection

    def _get(self, path: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """GET on a kept-alive connection (one per thread), retried once on a fresh connection
        when the registry closed the old one."""
        reason: object = "no answer"
        for _ in range(2):
            connection = self._connection()
            try:
                connection.request("GET", path, headers={"Accept": accept} if accept else {})
                response = connection.getresponse()
                return response.status, dict(response.headers), response.read()
            except OSError as err:
                connection.close()
                self._local.connection = None
                reason = err
                if not isinstance(err, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)):
                    break
        raise RegistryUnavailable(
            f"cannot reach the registry at {self.address}: {reason} — start it (`make registry`), "
            "or unset CALVIN_REGISTRY / registry in configs/pipeline.yaml to release to the local engine")

    def ping(self) -> None:
        status, _, body = self._get("/v2/")
        if status not in (200, 401):
            raise RegistryUnavailable(f"{self.address} does not answer like a Docker registry (GET /v2/ → {status})")

    def forget(self, repository: str, tag: str) -> None:
        """Drop what this run knows of repository:tag (after pushing it)."""
        with self._lock:
            self._images.pop((repository, tag), None)

    def image(self, repository: str, tag: str) -> RemoteImage | None:
        """The manifest of repository:tag and its config labels, or None when the tag does not
        exist; asked once per run."""
        with self._lock:
            if (repository, tag) in self._images:
                return self._images[(repository, tag)]
        found = self._image(repository, tag)
        with self._lock:
            self._images[(repository, tag)] = found
        return found

    def _image(self, repository: str, tag: str) -> RemoteImage | None:
        status, headers, body = self._get(f"/v2/{repository}/manifests/{tag}", MANIFEST_TYPES)
        if status == 404:
            return None
        if status != 200:
            raise RegistryUnavailable(f"the registry at {self.address} answered {status} for {repository}:{tag}")
        manifest = json.loads(body)
        digest = next((v for k, v in headers.items() if k.lower() == "docker-content-digest"), "")
        config_digest = (manifest.get("config") or {}).get("digest", "")
        return RemoteImage(f"{self.address}/{repository}:{tag}", digest, config_digest,
                           self._labels(repository, config_digest))

    def _labels(self, repository: str, digest: str) -> Mapping[str, str]:
        with self._lock:
            if digest in self._configs:
                return self._configs[digest]
        status, _, body = self._get(f"/v2/{repository}/blobs/{digest}")
        if status != 200:
            raise RegistryUnavailable(f"the registry at {self.address} answered {status} for the config "
                                      f"{digest[:19]} of {repository}; try again, or check the registry's log")
        config: dict[str, Any] = json.loads(body)
        labels: Mapping[str, str] = (config.get("config") or {}).get("Labels") or {}
        with self._lock:
            self._configs[digest] = labels
        return labels

    def tags(self, repository: str) -> list[str]:
        status, _, body = self._get(f"/v2/{repository}/tags/list")
        if status != 200:
            return []
        return list(json.loads(body).get("tags") or [])
