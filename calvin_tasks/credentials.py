"""A registry's credentials, found the way the Docker client finds them.

`docker login HOST` writes them to `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`):
either inline, as `auths[HOST].auth` = base64 of `user:password`, or in a credential helper named
by `credHelpers[HOST]` or `credsStore` (the program `docker-credential-<helper>`, asked with
`get` and the server address on stdin). Calvin reads the same places, so one `docker login`
serves both the engine's pushes and Calvin's own reads of the registry.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .errors import CalvinError

HELPER_TIMEOUT = 30.0  # seconds: a helper may ask a keyring


class CredentialsError(CalvinError):
    """The Docker configuration holding a registry's credentials cannot be read."""


@dataclass(frozen=True)
class Credentials:
    """A user and password for one registry, and where they were found (for messages)."""

    user: str
    password: str
    source: str

    def header(self) -> str:
        """The HTTP Basic `Authorization` value."""
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def auth_config(self, registry: str) -> dict[str, str]:
        """What the engine takes with a push or pull (X-Registry-Auth)."""
        return {"username": self.user, "password": self.password, "serveraddress": registry}

    def __repr__(self) -> str:  # never print the password
        return f"Credentials(user={self.user!r}, source={self.source!r})"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    folder = env.get("DOCKER_CONFIG") or str(Path(env.get("HOME") or Path.home()) / ".docker")
    return Path(folder) / "config.json"


def _host(key: str) -> str:
    """An `auths` key as a bare host[:port]: `docker login` may have written a URL."""
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme):]
    return key.split("/", 1)[0]


def lookup(registry: str, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """The credentials `docker login REGISTRY` stored, or None when there are none."""
    path = config_path(environ)
    try:
        config: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise CredentialsError(f"cannot read the Docker configuration {path}: {err}") from None
    if not isinstance(config, dict):
        raise CredentialsError(f"the Docker configuration {path} is not a JSON object")
    helper = (config.get("credHelpers") or {}).get(registry) or config.get("credsStore")
    if helper:
        found = _from_helper(str(helper), registry)
        if found is not None:
            return found
    for key, entry in (config.get("auths") or {}).items():
        if _host(str(key)) == registry and isinstance(entry, dict) and entry.get("auth"):
            return _decode(str(entry["auth"]), registry, path)
    return None


def _decode(auth: str, registry: str, path: Path) -> Credentials:
    try:
        user, sep, password = base64.b64decode(auth, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep, user, password = "", "", ""
    if not sep or not user:
        raise CredentialsError(f"{path}: the login for {registry} is not base64 of user:password — "
                               f"run `docker login {registry}` again")
    return Credentials(user, password, str(path))


def _from_helper(helper: str, registry: str) -> Credentials | None:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, "get"], input=registry, capture_output=True, text=True,
                              timeout=HELPER_TIMEOUT)
    except FileNotFoundError:
        raise CredentialsError(f"the Docker configuration names the credential helper '{helper}', "
                               f"but {program} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"{program} did not answer within {HELPER_TIMEOUT:g} s") from None
    if done.returncode != 0:
        return None  # "credentials not found": the helper's way of saying there is no login
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise CredentialsError(f"{program} answered something other than JSON") from None
    user, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
    if not user or user == "<token>":  # an identity token is for token auth, which Calvin does not speak
        return None
    return Credentials(user, secret, program)
