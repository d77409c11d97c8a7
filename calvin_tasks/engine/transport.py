"""The one boundary between Calvin and the Docker engine's transport.

Every request to the engine goes through `Transport.call` (or `Transport.stream` for the
answers that arrive as a stream of progress chunks, or `Transport.get` for the cheap reads a
no-op run makes on the engine's unix socket). This is the only place that knows the Docker
SDK's, requests' and the socket's exceptions: each becomes one of Calvin's own `EngineError`s,
so callers catch only `CalvinError` and never inspect message text.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import urllib.parse
from typing import Any, Callable, Iterable, Iterator, TypeVar

from ..errors import EngineError, EngineNotFound, EngineTimeout, EngineUnavailable, StepFailed
from . import contexts

DEFAULT_HOST = "unix:///var/run/docker.sock"
CLIENT_TIMEOUT = 120.0  # seconds for one request; streams (build, push, pull) wait as long as they run
T = TypeVar("T")


def address() -> str:
    """Where the engine is: DOCKER_HOST, the host of the context DOCKER_CONTEXT names (contexts.py),
    or Docker's own default socket."""
    context = contexts.named()
    if context is not None:
        return contexts.endpoint(context).host
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def socket_path() -> str | None:
    """The engine's unix socket, when that is how we reach it."""
    host = address()
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


def unreachable(reason: str) -> EngineUnavailable:
    context = contexts.named()
    where = address() + (f" (Docker context '{context}')" if context else "")
    return EngineUnavailable(
        f"cannot reach the Docker engine at {where}: {reason} — start it "
        "(`make engine` installs and starts one), or point DOCKER_HOST (or DOCKER_CONTEXT) at a running engine")


_SOCKET_REASONS: dict[type[BaseException], str] = {
    FileNotFoundError: "no engine socket", ConnectionRefusedError: "connection refused",
    PermissionError: "permission denied on the socket"}


class Transport:
    """A connection to the engine, opened on first use; one per run, shared by threads."""

    def __init__(self, client: Any = None, timeout: float = CLIENT_TIMEOUT) -> None:
        self._client = client
        self._timeout = timeout
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def sdk_loaded(self) -> bool:
        return self._client is not None

    @property
    def api(self) -> Any:
        """The Docker SDK's low-level client (connecting is checked by a ping)."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client.api

    def _connect(self) -> Any:
        import docker
        import docker.errors

        context = contexts.named()
        found = contexts.endpoint(context) if context is not None else None
        try:
            if found is not None:  # the context's host, with its TLS material
                client = docker.DockerClient(base_url=found.host, tls=found.tls or False, timeout=int(self._timeout))
            else:
                client = docker.from_env(timeout=int(self._timeout))
            client.ping()
        except (docker.errors.DockerException, OSError) as err:
            raise unreachable(_connect_reason(err)) from None
        return client

    def call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(*args, **kwargs)` on the SDK, its failures as Calvin's errors about `what`."""
        try:
            return function(*args, **kwargs)
        except Exception as err:  # the one boundary: translate() re-raises what is not the engine's
            translated = translate(err, what)
            if translated is None:
                raise
            raise translated from None

    def stream(self, what: str, chunks: Callable[[], Iterable[Any]]) -> Iterator[dict[str, Any]]:
        """The chunks of a streamed answer (build, push, pull, import), each checked: the engine
        reports a failed step inside the stream, not as an HTTP error."""
        answer = self.call(what, chunks)
        # an import answers with the whole body at once: one text, not a stream of its characters
        iterator = iter([answer] if isinstance(answer, (str, bytes, dict)) else answer)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            except Exception as err:  # the one boundary: translate() re-raises what is not the engine's
                translated = translate(err, what)
                if translated is None:
                    raise
                raise translated from None
            for item in _as_chunks(chunk):
                yield _checked(item, what)

    def get(self, path: str) -> tuple[int, bytes]:
        """GET on the engine's unix socket over a kept-alive connection of this thread's: the
        cheap read a no-op run makes, without loading the Docker SDK."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = _UnixConnection(socket_path() or "", timeout=30)
        try:
            connection.request("GET", urllib.parse.quote(path, safe="/:@?=&"))
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as err:
            connection.close()
            self._local.connection = None
            raise unreachable(_SOCKET_REASONS.get(type(err), str(err) or type(err).__name__)) from None

    def get_json(self, path: str, what: str) -> Any | None:
        """The JSON answer of a GET, None on 404."""
        status, body = self.get(path)
        if status == 404:
            return None
        if status != 200:
            raise EngineError(f"the Docker engine at {address()} answered {status} to {what}")
        return json.loads(body)


def translate(err: BaseException, what: str) -> EngineError | None:
    """Calvin's error for a failure of the engine's transport or API; None for anything else
    (a bug in Calvin, which keeps its traceback)."""
    if isinstance(err, (OSError, http.client.HTTPException)) and not _is_sdk(err):
        return EngineUnavailable(f"the Docker engine at {address()} stopped answering during {what}: "
                                 f"{_SOCKET_REASONS.get(type(err), str(err) or type(err).__name__)}")
    if not _is_sdk(err):
        return None
    import docker.errors
    import requests.exceptions

    if isinstance(err, docker.errors.NotFound):
        return EngineNotFound(f"{what}: {_explanation(err)}")
    if isinstance(err, docker.errors.APIError):
        return EngineError(f"the Docker engine refused {what}: {_explanation(err)}",
                           status=err.status_code)
    if isinstance(err, requests.exceptions.Timeout) or _timed_out(err):
        return EngineTimeout(f"the Docker engine at {address()} did not answer {what} within "
                             f"{CLIENT_TIMEOUT:g} s")
    if isinstance(err, docker.errors.DockerException):
        return EngineError(f"{what}: {str(err).splitlines()[0][:300]}")
    return EngineUnavailable(f"the Docker engine at {address()} stopped answering during {what}")


def _is_sdk(err: BaseException) -> bool:
    """Whether the error comes from the SDK's stack (docker, requests, urllib3): imported only
    when the SDK is, so a no-op run that never loads it pays nothing."""
    import sys

    for name, attribute in (("docker.errors", "DockerException"), ("requests.exceptions", "RequestException"),
                            ("urllib3.exceptions", "HTTPError")):
        module = sys.modules.get(name)
        if module is not None and isinstance(err, getattr(module, attribute)):
            return True
    return False


def _timed_out(err: BaseException) -> bool:
    """requests reports a read that timed out inside a ConnectionError; urllib3's ReadTimeoutError (or
    the socket's timeout) is in its causes or arguments."""
    import urllib3.exceptions

    return any(isinstance(cause, (urllib3.exceptions.TimeoutError, TimeoutError)) for cause in _causes(err))


def _explanation(err: Any) -> str:
    """The first line of what the engine said, without the client's wrapping."""
    explanation = getattr(err, "explanation", None)
    text = explanation.decode() if isinstance(explanation, bytes) else explanation
    return str(text or err).strip().splitlines()[0][:500]


def _connect_reason(err: BaseException) -> str:
    for cause in _causes(err):
        if type(cause) in _SOCKET_REASONS:
            return _SOCKET_REASONS[type(cause)]
    text = str(err)
    if "Connection refused" in text:  # requests wraps the socket's error in its own text only
        return "connection refused"
    if "No such file" in text or "FileNotFoundError" in text:
        return "no engine socket"
    return text.splitlines()[0][:200] if text else type(err).__name__


def _causes(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack += [item.__cause__, item.__context__, *[a for a in item.args if isinstance(a, BaseException)]]


def _as_chunks(result: Any) -> Iterator[dict[str, Any]]:
    """A stream item as dicts: the SDK gives dicts when decoding, else lines of JSON."""
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


def _checked(chunk: dict[str, Any], what: str) -> dict[str, Any]:
    """A chunk passed through; an error chunk is a failed step with the engine's message."""
    if "error" in chunk or "errorDetail" in chunk:
        detail = chunk.get("errorDetail") or {}
        message = detail.get("message") or chunk.get("error") or "unknown error"
        raise StepFailed(f"{what} failed: {str(message).strip()}")
    return chunk
