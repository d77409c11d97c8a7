"""The secret store: a directory outside the repository, one file (mode 0600) per secret.

`{secret: NAME}` in an environment's values names a file here. Calvin creates missing secrets with
random values (`doit secrets <env>`) and never prints, copies or logs a value: the deploy
bind-mounts each file read-only at /run/secrets/NAME into only the services that declare the key.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..environments import Environment, reference
from ..errors import CalvinError
from ..model import Resource
from .files import digest_of

VARIABLE = "CALVIN_SECRETS"
SERVICE_UID = 10001  # the `calvin` user every catalogue service runs as (base-linux)


def store(environment: str) -> Path:
    """CALVIN_SECRETS/<env>, by default ~/.config/calvin/secrets/<env>."""
    base = os.environ.get(VARIABLE) or str(Path.home() / ".config" / "calvin" / "secrets")
    return Path(base) / environment


def names(environment: Environment, resource: Resource | None = None) -> list[str]:
    """The secrets an environment references (only those `resource` declares, when given)."""
    keys = None if resource is None else {key.name for key in resource.config}
    return sorted({value["secret"] for key, value in environment.values.items()
                   if reference(value) == "secret" and (keys is None or key in keys)})


def path(environment: Environment, name: str) -> Path:
    return store(environment.name) / name


def ensure(environment: Environment) -> tuple[list[str], list[str]]:
    """Create every missing secret with a random value; (created, already there)."""
    created, existing = [], []
    for name in names(environment):
        file = path(environment, name)
        if file.is_file():
            existing.append(name)
            continue
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(24))
        _owned_by_services(file)
        created.append(name)
    return created, existing


def _owned_by_services(file: Path) -> None:
    """The services read their secrets as `calvin`: as root, the file is given to that uid (still 0600);
    otherwise it stays the operator's, and the README says what to do."""
    if os.geteuid() == 0:
        os.chown(file, SERVICE_UID, SERVICE_UID)


def check(environment: Environment) -> None:
    """Every secret the environment needs exists, readable only by its owner."""
    missing = [name for name in names(environment) if not path(environment, name).is_file()]
    if missing:
        raise CalvinError(f"environment '{environment.name}' needs secrets that are not in "
                          f"{store(environment.name)}: {', '.join(missing)} — run `doit secrets {environment.name}` "
                          f"to create them with random values, or put yours there (mode 0600)")
    loose = [name for name in names(environment) if path(environment, name).stat().st_mode & 0o077]
    if loose:
        raise CalvinError(f"secrets readable by others in {store(environment.name)}: {', '.join(loose)} — "
                          "chmod 600 them")


def fingerprint(environment: Environment, resource: Resource) -> str:
    """A digest over the secrets a resource reads: a changed secret replaces its containers. A digest
    of random values says nothing about them."""
    return digest_of((name, path(environment, name)) for name in names(environment, resource))
