"""packages.lock: every Debian package an image contains, one line each, committed beside the resource,
and the wheels pip installed into it (wheels.py), with the hashes pip checks.

    # comment lines
    <name>\t<version>\t<architecture>\t<source package>
    pypi:<name>\t<version>\tsha256:<hex>[,sha256:<hex>…]

The file sits in the resource folder, so it is an ordinary build input: its content is in the
fingerprint, and changing it (doit refresh --apply) makes the next run build the resource again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Protocol

from ..errors import InputError, Problem, display_path
from ..files import write_atomic
from .wheels import PREFIX, Wheel, Wheels, parse_lock_line, wheels_by_key

LOCK_FILE = "packages.lock"
HEADER = ("# packages.lock — the Debian packages (and pip's wheels) this image contains, written by Calvin.\n"
          "# A build input: the image must hold exactly these; `doit refresh --apply` updates it.\n")
EPOCH_PREFIX = "# source-date-epoch: "  # SOURCE_DATE_EPOCH of a root built from this lock
COLUMNS = "# name\tversion\tarchitecture\tsource\n"
WHEEL_COLUMNS = "# pypi:name\tversion\tsha256 hashes of the wheel (pip --require-hashes; - when read from an image)\n"


@dataclass(frozen=True, order=True)
class Package:
    name: str
    version: str
    arch: str
    source: str

    @property
    def key(self) -> str:
        return f"{self.name}:{self.arch}"


Packages = Mapping[str, Package]  # by key name:arch


def by_key(packages: Iterable[Package]) -> dict[str, Package]:
    return {p.key: p for p in sorted(packages)}


def lock_path(folder: Path) -> Path:
    return folder / LOCK_FILE


def _rows(path: Path) -> Iterable[tuple[int, list[str]]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            yield number, line.split("\t")


def _broken(path: Path, number: int, expected: str) -> InputError:
    return InputError([Problem(display_path(path), f"expected '{expected}'", line=number,
                               hint="rewrite it with `doit refresh --apply`, or delete it and build once to "
                               "write it from the image")])


def read_lock(folder: Path) -> dict[str, Package] | None:
    """The locked Debian packages, or None when the resource has no lock."""
    path = lock_path(folder)
    if not path.is_file():
        return None
    packages = []
    for number, fields in _rows(path):
        if fields[0].startswith(PREFIX):
            if parse_lock_line(fields) is None:
                raise _broken(path, number, "pypi:<normalised name><TAB>version<TAB>sha256:<hex>[,…] (or -)")
            continue
        if len(fields) != 4 or not all(fields):
            raise _broken(path, number, "name<TAB>version<TAB>architecture<TAB>source")
        packages.append(Package(*fields))
    return by_key(packages)


def read_locked_wheels(folder: Path) -> dict[str, Wheel]:
    """The locked wheels (none when there is no lock, or it lists none)."""
    path = lock_path(folder)
    if not path.is_file():
        return {}
    return wheels_by_key([w for _, fields in _rows(path) if (w := parse_lock_line(fields)) is not None])


def format_lock(packages: Packages, epoch: int, wheels: Wheels | None = None) -> str:
    rows = [f"{p.name}\t{p.version}\t{p.arch}\t{p.source}\n" for p in sorted(packages.values())]
    listed = [w.lock_line() for w in sorted((wheels or {}).values())]
    return (HEADER + f"{EPOCH_PREFIX}{epoch}\n" + COLUMNS + "".join(rows)
            + (WHEEL_COLUMNS + "".join(listed) if listed else ""))


def write_lock(folder: Path, packages: Packages, epoch: int | None = None, wheels: Wheels | None = None) -> Path:
    """Write the lock; its source-date-epoch is `epoch`, else the time of writing. Without `wheels`
    the wheels the lock lists already are kept (their hashes come from a person, not an image)."""
    path = lock_path(folder)
    kept = read_locked_wheels(folder) if wheels is None else wheels
    write_atomic(path, format_lock(packages, int(time.time()) if epoch is None else epoch, kept))
    return path


def read_epoch(folder: Path) -> int | None:
    """The lock's source-date-epoch, when it has a lock with one."""
    path = lock_path(folder)
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(EPOCH_PREFIX) and line[len(EPOCH_PREFIX):].strip().isdigit():
            return int(line[len(EPOCH_PREFIX):].strip())
    return None


class Versioned(Protocol):
    @property
    def version(self) -> str: ...


def differences(locked: Mapping[str, Versioned], actual: Mapping[str, Versioned]) -> list[str]:
    """Each difference between the lock and an image's packages, one phrase each, sorted by name."""
    found = []
    for key in sorted(set(locked) | set(actual), key=lambda k: (k.split(":")[0], k)):
        want, have = locked.get(key), actual.get(key)
        if want is None and have is not None:
            found.append(f"{key} {have.version} is in the image, not in the lock")
        elif have is None and want is not None:
            found.append(f"{key} {want.version} is locked, not in the image")
        elif want is not None and have is not None and want.version != have.version:
            found.append(f"{key} is {have.version} in the image, {want.version} in the lock")
    return found
