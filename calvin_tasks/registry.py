"""A Docker Distribution registry read over its HTTP API (v2): manifests, configs, labels.

Only reads: image pushes go through the engine (engine.push), which owns the image data; artifact
pushes (SBOMs, VM disks) through packages/artifact.py.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from .credentials import Credentials
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
    def __init__(self, address: str, timeout: float = 10.0, *, credentials: Credentials | None = None) -> None:
        self.address = address
        self.credentials = credentials
        host = address.split(":", 1)[0]
        # plain HTTP on loopback, and for the registries named in CALVIN_INSECURE_REGISTRIES (host:port,
        # comma-separated) — those the engines were told are insecure (dockerd --insecure-registry)
        insecure = {item.strip() for item in os.environ.get("CALVIN_INSECURE_REGISTRIES", "").split(",")}
        local = host in ("localhost", "::1") or host.startswith("127.") or address in insecure
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

    def auth(self) -> dict[str, str] | None:
        """The credentials for the engine's pushes and pulls, when there is a login."""
        return None if self.credentials is None else self.credentials.auth_config(self.address)

    def _refused(self, headers: dict[str, str]) -> RegistryUnavailable:
        challenge = next((v for k, v in headers.items() if k.lower() == "www-authenticate"), "")
        if challenge and not challenge.lower().startswith("basic"):
            return RegistryUnavailable(f"the registry at {self.address} asks for {challenge.split(' ', 1)[0]} "
                                       "authentication; Calvin speaks only Basic (htpasswd)")
        if self.credentials is None:
            return RegistryUnavailable(f"the registry at {self.address} needs a login: docker login {self.address}")
        return RegistryUnavailable(f"the registry at {self.address} refused the login of '{self.credentials.user}' "
                                   f"(from {self.credentials.source}): docker login {self.address}")

    def _get(self, path: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """GET on a kept-alive connection (one per thread), retried once on a fresh connection
        when the registry closed the old one. A 401 (no login, or a wrong one) is raised."""
        headers = {"Accept": accept} if accept else {}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.header()
        reason: object = "no answer"
        for _ in range(2):
            connection = self._connection()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                answer = response.status, dict(response.headers), response.read()
                if answer[0] == 401:
                    raise self._refused(answer[1])
                return answer
            except OSError as err:
                connection.close()
                self._local.connection = None
                if isinstance(err, TimeoutError):
                    raise RegistryUnavailable(f"the registry at {self.address} did not answer within "
                                              f"{self.timeout:g} s (GET {path}); run.registry_timeout in "
                                              "configs/pipeline.yaml sets the limit") from None
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
        found = self.manifest(repository, tag)
        if found is None:
            return None
        digest, body = found
        manifest = json.loads(body)
        config_digest = (manifest.get("config") or {}).get("digest", "")
        return RemoteImage(f"{self.address}/{repository}:{tag}", digest, config_digest,
                           self._labels(repository, config_digest))

    def manifest(self, repository: str, reference: str) -> tuple[str, bytes] | None:
        """The manifest repository:reference (a tag or a digest) as the registry serves it, and its
        digest; None when there is none. Not cached."""
        status, headers, body = self._get(f"/v2/{repository}/manifests/{reference}", MANIFEST_TYPES)
        if status == 404:
            return None
        if status != 200:
            separator = "@" if reference.startswith("sha256:") else ":"
            raise RegistryUnavailable(f"the registry at {self.address} answered {status} for {repository}"
                                      f"{separator}{reference}{error_text(body)}")
        return next((v for k, v in headers.items() if k.lower() == "docker-content-digest"), ""), body

    def blob(self, repository: str, digest: str) -> bytes:
        """A small blob (a config) by digest, checked against it."""
        status, _, body = self._get(f"/v2/{repository}/blobs/{digest}")
        if status != 200 or "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RegistryUnavailable(f"the registry at {self.address} answered {status} for the blob "
                                      f"{digest[:19]} of {repository}{error_text(body)}")
        return body

    def _labels(self, repository: str, digest: str) -> Mapping[str, str]:
        with self._lock:
            if digest in self._configs:
                return self._configs[digest]
        status, _, body = self._get(f"/v2/{repository}/blobs/{digest}")
        if status != 200:
            raise RegistryUnavailable(f"the registry at {self.address} answered {status} for the config "
                                      f"{digest[:19]} of {repository}; try again, or check the registry's log")
        config: dict[str, Any] = json.loads(body)
        # an image's config keeps them under config.Labels, a VM disk artifact's (vm/artifact.py) under labels
        labels: Mapping[str, str] = (config.get("config") or {}).get("Labels") or config.get("labels") or {}
        with self._lock:
            self._configs[digest] = labels
        return labels

    def storage_error(self, repository: str) -> str:
        """Why the registry fails writes, in its own words: start an upload (and cancel it). A push
        through the engine only says 'received unexpected HTTP status: 500'."""
        headers = {"Authorization": self.credentials.header()} if self.credentials is not None else {}
        host = self.base.split("://", 1)[1]
        kind = http.client.HTTPConnection if self.base.startswith("http:") else http.client.HTTPSConnection
        connection = kind(host, timeout=self.timeout)
        try:
            connection.request("POST", f"/v2/{repository}/blobs/uploads/", headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status == 202 and response.headers.get("Location"):
                location = response.headers["Location"].split(host, 1)[-1]
                connection.request("DELETE", location, headers=headers)
                connection.getresponse().read()
                return ""
            return f"answered {response.status}{error_text(body)}"
        except OSError as err:
            return f"no answer ({err})"
        finally:
            connection.close()

    def tags(self, repository: str) -> list[str]:
        status, _, body = self._get(f"/v2/{repository}/tags/list")
        if status != 200:
            return []
        return list(json.loads(body).get("tags") or [])


def error_text(body: bytes) -> str:
    """': <message> (<detail>)' from Distribution's JSON error body, or '' when it has none."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return ""
    parts = []
    for error in errors[:3]:
        detail = error.get("detail")
        text = str(error.get("message") or error.get("code") or "")
        if detail:
            text += f" ({json.dumps(detail)[:300]})" if not isinstance(detail, str) else f" ({detail[:300]})"
        parts.append(text)
    return (": " + "; ".join(parts)) if parts else ""
