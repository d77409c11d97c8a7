"""Python distributions pip installed into an image (wheels), beside its Debian packages.

An image's wheels are the `*.dist-info/METADATA` files under /usr/local/lib/python3*/dist-packages
(or site-packages), read from the image's file system without running anything in it. Debian's
own Python modules (/usr/lib/python3/dist-packages) belong to Debian packages and are counted as
those. In packages.lock a wheel is one line, `pypi:<name>\t<version>\t<sha256:hex>[,<sha256:hex>…]`:
the hashes are what pip --require-hashes checks when a Dockerfile installs the wheels from the lock.
"""
from __future__ import annotations

import re
import tarfile
import tempfile
from dataclasses import dataclass
from typing import Mapping

from ..engine import Engine
from ..errors import EngineNotFound

PREFIX = "pypi:"
NO_HASH = "-"  # a wheel read from an image: its version is known, the hash of its archive is not
SITE_ROOT = "/usr/local/lib"
_METADATA = re.compile(r"python3[^/]*/(?:dist|site)-packages/[^/]+\.dist-info/METADATA")
_HASH = re.compile(r"sha256:[0-9a-f]{64}")
SPOOL = 16 * 1024 * 1024


def normalise(name: str) -> str:
    """A distribution's name as PEP 503 compares it (and a pkg:pypi purl spells it)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, order=True)
class Wheel:
    name: str  # normalised
    version: str
    hashes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return PREFIX + self.name

    def lock_line(self) -> str:
        return f"{self.key}\t{self.version}\t{','.join(self.hashes) or NO_HASH}\n"


Wheels = Mapping[str, Wheel]  # by key pypi:<name>


def wheels_by_key(wheels: list[Wheel]) -> dict[str, Wheel]:
    return {w.key: w for w in sorted(wheels)}


def parse_lock_line(fields: list[str]) -> Wheel | None:
    """A lock line's wheel, or None when the line is not a well-formed wheel line."""
    if len(fields) != 3 or not fields[0].startswith(PREFIX) or not fields[1]:
        return None
    name = fields[0][len(PREFIX):]
    hashes = () if fields[2] == NO_HASH else tuple(fields[2].split(","))
    if not name or normalise(name) != name or not all(_HASH.fullmatch(h) for h in hashes):
        return None
    return Wheel(name, fields[1], hashes)


def parse_metadata(text: str) -> Wheel | None:
    """Name and version from a dist-info METADATA file (RFC 822 headers)."""
    import email.parser  # loaded when a build is checked, not on a no-op run

    headers = email.parser.HeaderParser().parsestr(text, headersonly=True)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    return Wheel(normalise(str(name).strip()), str(version).strip())


def read_wheels(engine: Engine, image: str, labels: Mapping[str, str]) -> dict[str, Wheel]:
    """The wheels pip installed into the image; empty when it has none (or no /usr/local/lib)."""
    found = []
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as archive:
        try:
            engine.export_path(image=image, path=SITE_ROOT, labels=labels, destination=archive)
        except EngineNotFound:
            return {}
        archive.seek(0)
        with tarfile.open(fileobj=archive, mode="r|") as tar:
            for member in tar:
                inside = member.name.split("/", 1)[-1]  # the archive's members start with "lib/"
                if member.isfile() and _METADATA.fullmatch(inside):
                    handle = tar.extractfile(member)
                    wheel = parse_metadata(handle.read().decode("utf-8", "replace")) if handle else None
                    if wheel is not None:
                        found.append(wheel)
    return wheels_by_key(found)
