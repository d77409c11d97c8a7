"""File values: an environment value `{file: PATH}` (a key of type `file`) is a file of the
repository, delivered read-only at /run/configs/<key> into only the services that declare the key,
CALVIN_<KEY>_FILE naming it.

On Compose the file is bind-mounted read-only and a label carries a digest of its content, so a
changed file replaces exactly the services reading it. On a swarm it becomes a Swarm config named
by its content's hash, `<stack>_<key>-<sha256[:12]>`: a changed file is a new object, exactly the
services reading it roll, and the old object is removed once no service uses it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..environments import FILES_IN_CONTAINER, Environment
from ..errors import CalvinError
from ..model import Resource

MODE = 0o444
NAME_LIMIT = 64  # Swarm's limit on a secret's or config's name


def object_name(stack: str, key: str, separator: str, digest: str) -> str:
    """`<stack>_<key><separator><digest>`, the key shortened to keep within Swarm's 64 characters
    (the content's hash keeps a shortened name apart from another value's)."""
    room = NAME_LIMIT - len(stack) - 1 - len(separator) - len(digest)
    if room < 4:
        raise CalvinError(f"the stack name '{stack}' is too long to name its secrets and configs within Swarm's "
                          f"{NAME_LIMIT} characters — shorten CALVIN_COMPOSE_PROJECT")
    return f"{stack}_{key[:room].rstrip('-._')}{separator}{digest}"


@dataclass(frozen=True)
class SwarmConfig:
    key: str      # the configuration key; the file is /run/configs/<key> in the container
    name: str     # the Swarm object: <stack>_<key>-<sha256[:12] of the content> (object_name)
    path: Path    # the file in the repository

    @property
    def target(self) -> str:
        return f"{FILES_IN_CONTAINER}/{self.key}"


def names(environment: Environment, resource: Resource | None = None) -> list[str]:
    """The file values' keys (only those `resource` declares, when given)."""
    keys = None if resource is None else {key.name for key in resource.config}
    return sorted(key for key in environment.files if keys is None or key in keys)


def mounts(environment: Environment, resource: Resource) -> list[str]:
    """Compose bind mounts of the file values `resource` reads, read-only."""
    return [f"{environment.files[key]}:{FILES_IN_CONTAINER}/{key}:ro" for key in names(environment, resource)]


def fingerprint(environment: Environment, resource: Resource) -> str:
    """A digest over the file values a resource reads: a changed file replaces its containers."""
    return digest_of((key, environment.files[key]) for key in names(environment, resource))


def digest_of(files: Iterable[tuple[str, Path]]) -> str:
    """A digest over named files' contents (the deploy's labels for file values and secrets)."""
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def swarm_configs(environment: Environment, stack: str) -> dict[str, SwarmConfig]:
    """Every file value of the environment as a Swarm config named by its content's hash."""
    return {key: SwarmConfig(key, object_name(stack, key, "-", hashlib.sha256(path.read_bytes()).hexdigest()[:12]),
                             path)
            for key, path in sorted(environment.files.items())}
