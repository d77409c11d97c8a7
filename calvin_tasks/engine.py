"""The only module that talks to Docker: build, import, inspect, tag, run, push, pull.

Every call that streams progress (build, push, pull) checks each chunk for an
error: the engine reports failures inside the stream, not as exceptions.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

from .errors import EngineUnavailable, StepFailed
from .model import LABEL_FINGERPRINT

Output = Callable[[str], None]


@dataclass(frozen=True)
class ImageInfo:
    """What Calvin needs to know of an image in the engine."""

    id: str
    tags: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str | None:
        return self.labels.get(LABEL_FINGERPRINT)


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


class Engine:
    """A connection to the Docker engine, opened on first use."""

    def __init__(self, client: Any = None) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._index: dict[str, ImageInfo] | None = None

    @property
    def api(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = _connect()
            return self._client.api

    # -- what exists -------------------------------------------------------------------------
    def find(self, reference: str) -> ImageInfo | None:
        """The Calvin image tagged `reference` (repository:tag), from one listing per run."""
        with self._lock:
            index = self._index
        if index is None:
            index = self._list()
            with self._lock:
                self._index = index
        return index.get(reference)

    def _list(self) -> dict[str, ImageInfo]:
        index: dict[str, ImageInfo] = {}
        for image in self.api.images(filters={"label": LABEL_FINGERPRINT}):
            info = ImageInfo(image["Id"], tuple(image.get("RepoTags") or ()), image.get("Labels") or {})
            for tag in info.tags:
                index[tag] = info
        return index

    def inspect(self, reference: str) -> ImageInfo | None:
        import docker.errors

        try:
            data = self.api.inspect_image(reference)
        except docker.errors.ImageNotFound:
            return None
        config = data.get("Config") or {}
        return ImageInfo(data["Id"], tuple(data.get("RepoTags") or ()), config.get("Labels") or {})

    def inspect_raw(self, reference: str) -> dict[str, Any]:
        return dict(self.api.inspect_image(reference))

    def _remember(self, reference: str, info: ImageInfo) -> None:
        with self._lock:
            if self._index is not None:
                self._index[reference] = info

    # -- making images -----------------------------------------------------------------------
    def build(self, *, context: IO[bytes], dockerfile: str, reference: str, buildargs: Mapping[str, str],
              labels: Mapping[str, str], network: str | None, output: Output) -> str:
        """Build from a tar context, streaming the log; returns the image id."""
        stream = self.api.build(fileobj=context, custom_context=True, dockerfile=dockerfile, tag=reference,
                                buildargs=dict(buildargs), labels=dict(labels), network_mode=network,
                                rm=True, forcerm=True, pull=False, decode=True)
        image_id = None
        for chunk in _checked(stream, "build"):
            text = chunk.get("stream")
            if text:
                for line in text.rstrip("\n").splitlines():
                    output(line)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = aux["ID"]
        info = self.inspect(reference)
        if info is None:
            raise StepFailed(f"the build of {reference} ended without an image")
        if image_id and image_id != info.id:
            raise StepFailed(f"the build of {reference} produced {image_id} but the tag points to {info.id}")
        self._remember(reference, info)
        return info.id

    def import_rootfs(self, *, tarball: str, repository: str, tag: str, changes: list[str]) -> str:
        """Import a root file-system tarball as an image; returns the image id."""
        result = self.api.import_image_from_file(tarball, repository=repository, tag=tag, changes=changes)
        for chunk in _checked(_as_chunks(result), "import"):
            pass
        reference = f"{repository}:{tag}"
        info = self.inspect(reference)
        if info is None:
            raise StepFailed(f"the import of {reference} ended without an image")
        self._remember(reference, info)
        return info.id

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        if not self.api.tag(image_id, repository, tag=tag, force=True):
            raise StepFailed(f"could not tag {image_id} as {repository}:{tag}")
        info = self.inspect(f"{repository}:{tag}")
        if info is not None:
            self._remember(f"{repository}:{tag}", info)

    # -- containers --------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        self.api  # noqa: B018 - connects
        return self._client


def _connect() -> Any:
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as err:
        raise EngineUnavailable(
            f"cannot reach the Docker engine at {engine_address()}: {_reason(err)} — start it "
            "(`make engine` installs and starts one), or point DOCKER_HOST at a running engine"
        ) from None
    return client


def _reason(err: BaseException) -> str:
    text = str(err)
    for marker in ("FileNotFoundError", "ConnectionRefusedError", "PermissionError", "Connection refused"):
        if marker in text:
            return {"FileNotFoundError": "no engine socket", "PermissionError": "permission denied on the socket"
                    }.get(marker, "connection refused")
    return text.splitlines()[0][:200] if text else type(err).__name__


def _as_chunks(result: Any) -> Iterator[dict[str, Any]]:
    import json

    if isinstance(result, (bytes, str)):
        text = result.decode() if isinstance(result, bytes) else result
        for line in text.splitlines():
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    yield {"stream": line}
    elif isinstance(result, dict):
        yield result
    else:
        for item in result:
            yield from _as_chunks(item)


def _checked(stream: Iterable[dict[str, Any]], what: str) -> Iterator[dict[str, Any]]:
    """Pass chunks through; an error chunk is a failure with the engine's message."""
    for chunk in stream:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            message = detail.get("message") or chunk.get("error") or "unknown error"
            raise StepFailed(f"{what} failed: {str(message).strip()}")
        yield chunk
