"""A Docker Distribution registry (`docker-registry serve`) run as a host process on loopback.

One helper for the tests and the benchmark, so both start, read and stop a registry the same
way. A registry of one's own on a free 127.0.0.1 port: plain HTTP, which the engine accepts for
127.0.0.0/8 without configuration, and no other user's pushes in it. `stop()` and `start()` keep
port and storage, so a restarted registry holds everything pushed before (an outage, not a loss).

Optionally the registry requires htpasswd authentication (`Credentials`). Distribution's
htpasswd access controller guards every request, so with it pulls, tag listings and the
helper's own reads need the credentials too, not only pushes and deletes.
"""
from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BINARY = "docker-registry"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


class RegistryDidNotStart(RuntimeError):
    """The registry process exited or did not answer in time (e.g. another process took its port)."""


@dataclass(frozen=True)
class Credentials:
    """A user of an htpasswd-protected registry."""

    user: str
    password: str

    def header(self) -> str:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"


def installed() -> bool:
    """Whether Debian's Docker Distribution (`docker-registry`) is on PATH (`make registry` installs it)."""
    return shutil.which(BINARY) is not None


def free_port() -> int:
    """A loopback port free right now; another process may take it before the registry binds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def htpasswd_line(credentials: Credentials) -> str:
    """`user:bcrypt-hash`, the only hash Distribution's htpasswd accepts.

    Made by `htpasswd -B` (Debian's apache2-utils) when on PATH, else by Python's `bcrypt`."""
    tool = shutil.which("htpasswd")
    if tool is not None:
        made = subprocess.run([tool, "-niB", credentials.user], input=credentials.password, capture_output=True,
                              text=True, check=True)
        return made.stdout.strip()
    try:
        import bcrypt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise FileNotFoundError("an htpasswd registry needs bcrypt hashes: install apache2-utils (htpasswd) "
                                "or Python's bcrypt") from None
    hashed = bcrypt.hashpw(credentials.password.encode(), bcrypt.gensalt()).decode()
    return f"{credentials.user}:{hashed}"


class RegistryProcess:
    """`docker-registry serve` on 127.0.0.1:<port> with filesystem storage under `folder`.

    `.address` is what CALVIN_REGISTRY takes, `.url` its HTTP root."""

    def __init__(self, folder: Path, port: int, *, credentials: Credentials | None = None,
                 startup_timeout: float = 20.0, host: str = "127.0.0.1") -> None:
        self.folder = Path(folder)
        self.port = port
        self.address = f"{host}:{port}"  # another host: an address of the test's own (e.g. a veth's)
        self.url = f"http://{self.address}"
        self.credentials = credentials
        self.startup_timeout = startup_timeout
        self.config = self.folder / "config.yml"
        self.log = self.folder / "registry.log"
        self.process: subprocess.Popen[bytes] | None = None
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        self.config.write_text(self._config_text())

    def _config_text(self) -> str:
        text = ("version: 0.1\n"
                "log:\n  level: warn\n"
                "storage:\n"
                f"  filesystem:\n    rootdirectory: {self.folder / 'data'}\n"
                "  delete:\n    enabled: true\n"
                f"http:\n  addr: {self.address}\n  secret: calvin-tests-only\n")
        if self.credentials is not None:
            htpasswd = self.folder / "htpasswd"
            htpasswd.write_text(htpasswd_line(self.credentials) + "\n")
            text += f"auth:\n  htpasswd:\n    realm: calvin-tests\n    path: {htpasswd}\n"
        return text

    # -- the process ---------------------------------------------------------------------------------
    def answers(self) -> bool:
        """GET /v2/ answers 200 (with the credentials, when the registry requires them)."""
        try:
            with urllib.request.urlopen(self._request("/v2/"), timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    def start(self) -> None:
        """Start the registry (nothing to do when it runs) and wait until it answers.

        Its own session: a Ctrl-C meant for the test run or the benchmark reaches their cleanup,
        which stops the registry, rather than the registry in the middle of it."""
        if self.process is not None and self.process.poll() is None:
            return
        binary = shutil.which(BINARY)
        if binary is None:
            raise FileNotFoundError(f"{BINARY} (Debian's Docker Distribution) is not installed: `make registry`")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([binary, "serve", str(self.config)], stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.answers() and self.process.poll() is None:
                return
            time.sleep(0.05)
        self.stop()
        tail = self.log.read_text(errors="replace").splitlines()[-15:]
        raise RegistryDidNotStart(f"{BINARY} did not answer on {self.address} within {self.startup_timeout:.0f} s; "
                                  "its log ends:\n" + "\n".join(tail))

    def stop(self) -> None:
        """Terminate the process; port, config and storage stay for a later `start()`."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    # -- reading what the registry holds (its HTTP API v2) -------------------------------------------
    def _request(self, path: str, accept: str | None = None) -> urllib.request.Request:
        headers = {"Accept": accept} if accept else {}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.header()
        return urllib.request.Request(self.url + path, headers=headers)

    def get(self, path: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """Status, lower-cased headers and body of GET `path`; an HTTP error is an answer, not raised."""
        try:
            with urllib.request.urlopen(self._request(path, accept), timeout=10) as response:  # noqa: S310
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in (err.headers or {}).items()}, err.read()

    def tags(self, repository: str) -> list[str]:
        status, _, body = self.get(f"/v2/{repository}/tags/list")
        if status == 404:
            return []
        assert status == 200, f"GET /v2/{repository}/tags/list → {status}: {body[:200]!r}"
        return sorted(json.loads(body).get("tags") or [])

    def digest(self, repository: str, tag: str) -> str | None:
        """The Docker-Content-Digest of repository:tag's (schema 2) manifest, None when absent."""
        status, headers, body = self.get(f"/v2/{repository}/manifests/{tag}", MANIFEST_V2)
        if status == 404:
            return None
        assert status == 200, f"GET manifest {repository}:{tag} → {status}: {body[:200]!r}"
        return headers.get("docker-content-digest")

    def config_of(self, repository: str, tag: str) -> tuple[str, dict[str, Any]]:
        """repository:tag's config digest (the local image id once pulled) and its config JSON."""
        status, _, body = self.get(f"/v2/{repository}/manifests/{tag}", MANIFEST_V2)
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


def start_registry(folder: Path, *, credentials: Credentials | None = None, attempts: int = 3) -> RegistryProcess:
    """A started registry on a free port, storage under `folder`.

    Retried on a new port: another process may take the free port before the registry binds it."""
    for attempt in range(1, attempts + 1):
        server = RegistryProcess(folder, free_port(), credentials=credentials)
        try:
            server.start()
            return server
        except RegistryDidNotStart:
            if attempt == attempts:
                raise
    raise ValueError(f"attempts must be at least 1, not {attempts}")
