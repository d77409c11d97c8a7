"""What Calvin released, by digest: a record per resource version on this machine.

The release store is the truth of what a tag points at now; this ledger is what Calvin itself
pushed, so a tag moved from outside can be named with the digest that was released.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from .files import write_atomic
from .model import TIMESTAMP, Settings


def _path(settings: Settings, name: str, version: str) -> Path:
    return settings.output / "state" / "releases" / f"{settings.namespace}--{name}--{version}.json"


def record(settings: Settings, name: str, version: str, digest: str, fingerprint: str, by: str) -> None:
    """`by`: "this run", or "another run" when the read-back found another run's release."""
    write_atomic(_path(settings, name, version), json.dumps({
        "digest": digest, "fingerprint": fingerprint, "released_by": by,
        "time": datetime.now(timezone.utc).strftime(TIMESTAMP)}) + "\n")


def released_digest(settings: Settings, name: str, version: str) -> str | None:
    try:
        return str(json.loads(_path(settings, name, version).read_text())["digest"]) or None
    except (OSError, ValueError, KeyError, TypeError):
        return None
