"""An in-memory Docker engine and registry with the semantics Calvin relies on, for tests that run
many whole doit runs in-process (the real engine is used by the `engine`-marked tests).

The fake daemon keeps images (id → config labels) and tags (reference → id); a build reads the
context tar Calvin sends — the Dockerfile's appended LABEL line is what labels the image — and
refuses a BASE_IMAGE the daemon does not hold, so parents must really be built first. The fake
registry keeps pushed manifests by repository and tag.
"""
from __future__ import annotations

import hashlib
import io
import shlex
import tarfile
import threading
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Mapping

from calvin_tasks.engine import ImageInfo, Limits, Outcome
from calvin_tasks.errors import RegistryUnavailable, StepFailed
from calvin_tasks.registry import RemoteImage


@dataclass
class Daemon:
    """What one machine's engine holds; survives from run to run like a real daemon."""

    images: dict[str, dict[str, str]] = field(default_factory=dict)  # id → labels
    tags: dict[str, str] = field(default_factory=dict)               # repository:tag → id
    builds: list[str] = field(default_factory=list)                  # every reference built

    def remove_image(self, image_id: str) -> None:
        self.tags = {ref: i for ref, i in self.tags.items() if i != image_id}
        self.images.pop(image_id, None)

    def wipe(self) -> None:
        self.images.clear()
        self.tags.clear()


@dataclass
class Server:
    """A registry's content: repository → tag → (digest, image id)."""

    manifests: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    blobs: dict[str, dict[str, str]] = field(default_factory=dict)  # image id → labels


SERVERS: dict[str, Server] = {}


class FakeEngine:
    """Calvin's engine facade over a Daemon (and the Servers it pushes to)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._lock = threading.Lock()

    def ping(self) -> None:
        pass

    def prefetch(self, references: list[str], workers: int = 4) -> None:
        pass

    def forget(self, reference: str) -> None:
        pass

    def find(self, reference: str) -> ImageInfo | None:
        image = self.daemon.tags.get(reference) or (reference if reference in self.daemon.images else None)
        if image is None:
            return None
        tags = tuple(ref for ref, i in self.daemon.tags.items() if i == image)
        return ImageInfo(image, tags, dict(self.daemon.images[image]))

    inspect = find

    def inspect_raw(self, reference: str) -> dict[str, Any]:
        image = self.daemon.tags.get(reference, reference)
        return {"Id": image, "Config": {"Labels": dict(self.daemon.images[image])}}

    def build(self, *, context: IO[bytes], dockerfile: str, reference: str, buildargs: Mapping[str, str],
              network: str | None, output: Callable[[str], None]) -> str:
        data = context.read()
        digest = hashlib.sha256(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.extractfile(dockerfile)
            text = member.read().decode() if member else ""
        base = buildargs.get("BASE_IMAGE")
        labels: dict[str, str] = {}
        if base is not None:
            if base not in self.daemon.images:
                raise StepFailed(f"the build of {reference} failed: No such image: {base}")
            labels.update(self.daemon.images[base])
            digest.update(base.encode())
        label_line = [line for line in text.splitlines() if line.startswith("LABEL ")][-1]
        for word in shlex.split(label_line[len("LABEL "):]):
            key, _, value = word.partition("=")
            labels[key] = value
        image = "sha256:" + digest.hexdigest()
        with self._lock:
            self.daemon.images[image] = labels
            self.daemon.tags[reference] = image
            self.daemon.builds.append(reference)
        output(f"Successfully built {image[7:19]}")
        return image

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        with self._lock:
            self.daemon.tags[f"{repository}:{tag}"] = image_id

    def untag(self, reference: str) -> None:
        with self._lock:
            self.daemon.tags.pop(reference, None)

    def push(self, repository: str, tag: str, output: Callable[[str], None],
             auth: Mapping[str, str] | None = None) -> str:
        address, _, path = repository.partition("/")
        server = SERVERS.get(address)
        if server is None:
            raise StepFailed(f"the push of {repository}:{tag} failed: connection refused")
        image = self.daemon.tags[f"{repository}:{tag}"]
        digest = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
        server.manifests.setdefault(path, {})[tag] = (digest, image)
        server.blobs[image] = dict(self.daemon.images[image])
        return digest

    def pull(self, repository: str, tag: str, output: Callable[[str], None],
             auth: Mapping[str, str] | None = None) -> str:
        address, _, path = repository.partition("/")
        _, image = SERVERS[address].manifests[path][tag]
        with self._lock:
            self.daemon.images[image] = dict(SERVERS[address].blobs[image])
            self.daemon.tags[f"{repository}:{tag}"] = image
        return image

    # containers: the fake runs no command; metadata checks read the labels above
    def containers(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        return []

    def run_command(self, **_: Any) -> Outcome:
        return Outcome(0, "", "")

    def read_path(self, **_: Any) -> None:
        return None  # the fake's images hold no files (no dpkg status: no packages to check)

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        return name


class FakeRegistry:
    """Calvin's registry reader over a Server (replaces calvin_tasks.registry.Registry)."""

    def __init__(self, address: str, timeout: float = 10.0, credentials: Any = None) -> None:
        self.address = address

    def auth(self) -> dict[str, str] | None:
        return None

    @property
    def server(self) -> Server:
        server = SERVERS.get(self.address)
        if server is None:
            raise RegistryUnavailable(f"cannot reach the registry at {self.address}")
        return server

    def ping(self) -> None:
        _ = self.server

    def forget(self, repository: str, tag: str) -> None:
        pass

    def image(self, repository: str, tag: str) -> RemoteImage | None:
        found = self.server.manifests.get(repository, {}).get(tag)
        if found is None:
            return None
        digest, image = found
        return RemoteImage(f"{self.address}/{repository}:{tag}", digest, image, dict(self.server.blobs[image]))


__all__ = ["Daemon", "FakeEngine", "FakeRegistry", "Limits", "SERVERS", "Server"]
