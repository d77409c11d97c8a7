"""The only module that talks to Docker: build, import, inspect, tag, run, push, pull.

Every call that streams progress (build, push, pull) checks each chunk for an
error: the engine reports failures inside the stream, not as exceptions.
"""
from __future__ import annotations

import http.client
import io
import json
import tarfile
import os
import socket
import threading
import urllib.parse
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
        self._known: dict[str, ImageInfo | None] = {}
        self._local = threading.local()

    @property
    def api(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = _connect()
            return self._client.api

    # -- what exists -------------------------------------------------------------------------
    def find(self, reference: str) -> ImageInfo | None:
        """The image tagged `reference` (repository:tag), asked once per run.

        One inspect answers for every tag of that image: a resource's content tag also tells
        whether its version tag and tested mark point to the same image."""
        with self._lock:
            if reference in self._known:
                return self._known[reference]
        info = self._inspect_cheaply(reference)
        self._remember(reference, info)
        return info

    def prefetch(self, references: list[str], workers: int = 4) -> None:
        """Ask for many references at once, over a few connections: the engine answers
        inspects in parallel, and a no-op run of a large project is mostly these."""
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            missing = [r for r in references if r not in self._known]
        if len(missing) < 8:
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for reference, info in zip(missing, pool.map(self._inspect_cheaply, missing), strict=True):
                self._remember(reference, info)

    def _inspect_cheaply(self, reference: str) -> ImageInfo | None:
        if _socket_path() is None or self._client is not None:
            return self.inspect(reference)
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = _UnixConnection(_socket_path() or "", timeout=30)
        status, body = _socket_request(connection, f"/images/{urllib.parse.quote(reference, safe='/:@')}/json")
        if status == 404:
            return None
        if status != 200:
            raise EngineUnavailable(f"the Docker engine at {engine_address()} answered {status} "
                                    f"to inspecting {reference}")
        return _image_info(json.loads(body))

    def ping(self) -> None:
        """Check the engine answers; on a local socket without loading the Docker SDK (a no-op run
        never needs it)."""
        if _socket_path() is not None and self._client is None:
            _socket_get("/_ping")
        else:
            self.api  # noqa: B018 - connecting is the check

    def inspect(self, reference: str) -> ImageInfo | None:
        import docker.errors

        try:
            return _image_info(self.api.inspect_image(reference))
        except docker.errors.ImageNotFound:
            return None

    def inspect_raw(self, reference: str) -> dict[str, Any]:
        return dict(self.api.inspect_image(reference))

    def _remember(self, reference: str, info: ImageInfo | None) -> None:
        with self._lock:
            self._known[reference] = info
            if info is not None:
                for tag in info.tags:
                    self._known[tag] = info

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
        for _ in _checked(_as_chunks(result), "import"):
            pass  # every chunk is checked for an error
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

    # -- registries ---------------------------------------------------------------------------
    def push(self, repository: str, tag: str, output: Output) -> str:
        """Push repository:tag, checking every chunk of the stream; returns the manifest digest."""
        digest = ""
        shown: set[str] = set()
        for chunk in _checked(self.api.push(repository, tag=tag, stream=True, decode=True), f"push of {repository}:{tag}"):
            status = chunk.get("status") or ""
            if status and status not in ("Pushing", "Preparing", "Waiting") and status not in shown:
                shown.add(status)
                output(f"push {tag}: {status}")
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
        if not digest:
            raise StepFailed(f"the push of {repository}:{tag} ended without a digest")
        return digest

    def pull(self, repository: str, tag: str, output: Output) -> str:
        """Pull repository:tag, checking every chunk; returns the image id."""
        for chunk in _checked(self.api.pull(repository, tag=tag, stream=True, decode=True), f"pull of {repository}:{tag}"):
            status = chunk.get("status") or ""
            if status.startswith(("Digest", "Status")):
                output(status)
        info = self.inspect(f"{repository}:{tag}")
        if info is None:
            raise StepFailed(f"the pull of {repository}:{tag} ended without an image")
        return info.id

    # -- containers --------------------------------------------------------------------------
    def _create(self, *, image: str, command: list[str] | None, env: Mapping[str, str], user: str | None,
                network: str, limits: Limits, labels: Mapping[str, str], ports: list[int] | None = None,
                entrypoint: list[str] | None = None) -> str:
        host_config = self.api.create_host_config(
            network_mode=network, mem_limit=limits.memory, memswap_limit=limits.memory,
            pids_limit=limits.pids, security_opt=["no-new-privileges"], auto_remove=False,
            port_bindings={port: ("127.0.0.1", None) for port in ports or []} or None)
        created = self.api.create_container(
            image, command=command, environment=dict(env), user=user or None, labels=dict(labels),
            host_config=host_config, entrypoint=entrypoint, ports=ports or None,
            networking_config=None)
        return str(created["Id"])

    def run_command(self, *, image: str, command: list[str], env: Mapping[str, str], user: str | None,
                    network: bool, limits: Limits, labels: Mapping[str, str], timeout: float) -> Outcome:
        """Run `command` in a fresh, limited container; always removed afterwards."""
        container = self._create(image=image, command=command, env=env, user=user,
                                 network="default" if network else "none", limits=limits, labels=labels,
                                 entrypoint=[])
        try:
            self.api.start(container)
            timed_out = False
            try:
                status = self.api.wait(container, timeout=timeout)
                code = int(status.get("StatusCode", -1))
            except Exception as err:  # requests' ReadTimeout, urllib3's ReadTimeoutError
                if "timed out" not in str(err).lower() and "timeout" not in type(err).__name__.lower():
                    raise
                timed_out, code = True, -1
                self.api.kill(container)
            stdout = self.api.logs(container, stdout=True, stderr=False).decode("utf-8", "replace")
            stderr = self.api.logs(container, stdout=False, stderr=True).decode("utf-8", "replace")
            return Outcome(code, stdout, stderr, timed_out)
        finally:
            self.remove(container)

    def read_path(self, *, image: str, path: str, labels: Mapping[str, str], limit: int) -> PathInfo | None:
        """A file's type, mode, owner and content, read from the image without running anything in it."""
        import docker.errors

        container = self.api.create_container(image, command=["calvin-never-runs"], entrypoint=[],
                                              labels=dict(labels), network_disabled=True)["Id"]
        try:
            try:
                stream, _ = self.api.get_archive(container, path)
            except docker.errors.NotFound:
                return None
            return _first_member(stream, limit)
        finally:
            self.remove(container)

    def start_service(self, *, image: str, command: list[str] | None, env: Mapping[str, str], port: int,
                      limits: Limits, labels: Mapping[str, str], network: str) -> Service:
        """Start the image's own command, its port published on 127.0.0.1."""
        container = self._create(image=image, command=command, env=env, user=None, network=network,
                                 limits=limits, labels=labels, ports=[port])
        try:
            self.api.start(container)
            bindings = self.api.inspect_container(container)["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
            host_port = int(bindings[0]["HostPort"]) if bindings else 0
        except BaseException:
            self.remove(container)
            raise
        return Service(container, host_port)

    def state(self, container: str) -> tuple[bool, int]:
        info = self.api.inspect_container(container)["State"]
        return bool(info.get("Running")), int(info.get("ExitCode") or 0)

    def logs(self, container: str, tail: int = 40) -> str:
        return str(self.api.logs(container, tail=tail).decode("utf-8", "replace"))

    def exec(self, container: str, *, command: list[str], env: Mapping[str, str], user: str | None,
             timeout: float) -> Outcome:
        """Run a command inside a running container (bounded: past `timeout` the container is killed)."""
        import concurrent.futures

        exec_id = self.api.exec_create(container, command, environment=dict(env), user=user or "")["Id"]

        def collect() -> tuple[str, str]:
            out, err = self.api.exec_start(exec_id, demux=True)
            return (out or b"").decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(collect)
        try:
            stdout, stderr = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            self.api.kill(container)
            pool.shutdown(wait=False)
            return Outcome(-1, "", "", True)
        pool.shutdown(wait=False)
        code = self.api.exec_inspect(exec_id).get("ExitCode")
        return Outcome(int(code if code is not None else -1), stdout, stderr, False)

    def remove(self, container: str) -> None:
        import docker.errors

        try:
            self.api.remove_container(container, force=True, v=True)
        except docker.errors.NotFound:
            pass

    def remove_labelled(self, labels: Mapping[str, str]) -> int:
        """Remove leftover containers carrying all these labels (from an interrupted run)."""
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        found = self.api.containers(all=True, filters=filters)
        for container in found:
            self.remove(container["Id"])
        return len(found)

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """A bridge network without IP masquerading: reachable on published ports, no route out."""
        if not self.api.networks(names=[name]):
            try:
                self.api.create_network(name, driver="bridge", labels=dict(labels), check_duplicate=True,
                                        options={"com.docker.network.bridge.enable_ip_masquerade": "false"})
            except Exception as err:
                if "already exists" not in str(err):
                    raise StepFailed(f"cannot create the smoke-test network '{name}': {err}") from None
        return name


@dataclass(frozen=True)
class Limits:
    memory: str
    pids: int


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False


@dataclass(frozen=True)
class PathInfo:
    type: str  # file | directory | symlink | other
    mode: int
    uid: int
    gid: int
    content: bytes = b""
    target: str = ""


@dataclass(frozen=True)
class Service:
    container: str
    host_port: int


class _ChunkReader(io.RawIOBase):
    """A file over the engine's stream of chunks, read as it arrives."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def drain(self) -> None:
        """Read the rest: the engine's connection is only free once its answer is consumed."""
        for _ in self._chunks:
            pass


def _first_member(stream: Iterable[bytes], limit: int) -> PathInfo | None:
    reader = _ChunkReader(stream)
    try:
        try:
            tar = tarfile.open(fileobj=io.BufferedReader(reader), mode="r|")
            member = next(iter(tar), None)
        except tarfile.TarError:
            return None
        if member is None:
            return None
        kind = ("file" if member.isfile() else "directory" if member.isdir()
                else "symlink" if member.issym() else "other")
        content = b""
        if member.isfile():
            handle = tar.extractfile(member)
            content = handle.read(limit) if handle else b""
        return PathInfo(kind, member.mode & 0o7777, member.uid, member.gid, content, member.linkname)
    finally:
        reader.drain()


def _socket_path() -> str | None:
    """The engine's unix socket, when that is how we reach it."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return host[len("unix://"):] if host.startswith("unix://") else None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def _image_info(data: Mapping[str, Any]) -> ImageInfo:
    """What Calvin keeps of the engine's answer to inspecting an image."""
    config = data.get("Config") or {}
    return ImageInfo(data["Id"], tuple(data.get("RepoTags") or ()), config.get("Labels") or {})


def _unreachable(reason: str) -> EngineUnavailable:
    return EngineUnavailable(
        f"cannot reach the Docker engine at {engine_address()}: {reason} — start it "
        "(`make engine` installs and starts one), or point DOCKER_HOST at a running engine")


def _socket_request(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    """GET on a kept-alive connection to the engine's socket."""
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError as err:
        connection.close()
        reason = {FileNotFoundError: "no engine socket", ConnectionRefusedError: "connection refused",
                  PermissionError: "permission denied on the socket"}.get(type(err), str(err))
        raise _unreachable(reason) from None


def _socket_get(path: str) -> bytes:
    """GET from the engine's API on its unix socket: the cheap read the no-op path needs."""
    connection = _UnixConnection(_socket_path() or "", timeout=30)
    try:
        status, body = _socket_request(connection, path)
    finally:
        connection.close()
    if status != 200:
        raise EngineUnavailable(f"the Docker engine at {engine_address()} answered {status} to GET {path}")
    return body


def _connect() -> Any:
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as err:
        raise _unreachable(_reason(err)) from None
    return client


def from_engine_client(err: BaseException) -> bool:
    """Whether `err` is the Docker client's report of something the engine refused (or dropped),
    rather than a bug in Calvin."""
    return type(err).__module__.split(".")[0] in ("docker", "requests", "urllib3")


def refusal_text(err: BaseException) -> str:
    """The first line of what the engine said, without the client's wrapping."""
    explanation = getattr(err, "explanation", None)
    text = explanation.decode() if isinstance(explanation, bytes) else explanation
    return str(text or err).strip().splitlines()[0][:500]


def _reason(err: BaseException) -> str:
    text = str(err)
    for marker in ("FileNotFoundError", "ConnectionRefusedError", "PermissionError", "Connection refused"):
        if marker in text:
            return {"FileNotFoundError": "no engine socket", "PermissionError": "permission denied on the socket"
                    }.get(marker, "connection refused")
    return text.splitlines()[0][:200] if text else type(err).__name__


def _as_chunks(result: Any) -> Iterator[dict[str, Any]]:
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
