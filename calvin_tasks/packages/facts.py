"""The release manifest's package facts per resource version — the SBOM's package count and digest,
and the changes since the previous version with an SBOM — kept between runs by the files' status.

An SBOM is read (parsed, hashed, compared) only when it, the previous version's or the list of
versions beside it changed since the last run: the key is each file's inode, size and
modification time, and the folder's modification time (a version added or removed changes it).
A no-op run reads one small file, out/state/package-facts.json, and asks the file system for
each SBOM's status, rather than reading every SBOM again.
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterable

from ..files import write_atomic
from ..model import Settings

FACTS_FILE = ("state", "package-facts.json")
Key = list[int]


def package_facts(settings: Settings, versions: Iterable[tuple[str, str]]) -> dict[str, dict[str, Any] | None]:
    """Per resource name, the facts of its version's SBOM; None where it has no SBOM here."""
    from .sbom import sbom_folder

    path = settings.output.joinpath(*FACTS_FILE)
    try:
        cached: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    kept: dict[str, Any] = {}
    found: dict[str, dict[str, Any] | None] = {}
    for name, version in versions:
        where = str(sbom_folder(settings, name))
        sbom = _file(where, version)
        own = _key(sbom)
        if own is None:
            found[name] = None
            continue
        folder = _key(where)
        entry = cached.get(sbom)
        if entry is None or not _still(entry, own, folder, where):
            entry = _read(settings, name, version, own, folder, where)
        kept[sbom] = entry
        found[name] = entry["facts"]
    if kept != cached:
        write_atomic(path, json.dumps(kept, sort_keys=True) + "\n")
    return found


def _still(entry: dict[str, Any], own: Key, folder: Key | None, where: str) -> bool:
    """Whether a cached entry still holds: the SBOM, its folder and the previous version's SBOM as they were."""
    if entry["key"] != own or entry["folder"] != folder:
        return False
    return entry["before"] is None or _key(_file(where, entry["before"])) == entry["before_key"]


def _read(settings: Settings, name: str, version: str, own: Key, folder: Key | None, where: str) -> dict[str, Any]:
    from .sbom import previous_version, sbom_facts

    facts = sbom_facts(settings, name, version)
    before = previous_version(settings, name, version) if facts is not None else None
    if facts is not None and before is not None:
        from .diff import changes_since

        facts["changes_since"] = changes_since(settings, name, before, version)
    before_key = _key(_file(where, before)) if before is not None else None
    return {"key": own, "folder": folder, "before": before, "before_key": before_key, "facts": facts}


def _file(where: str, version: str) -> str:
    """A version's SBOM in its resource's SBOM folder (as sbom_path names it), as a string."""
    from .sbom import SUFFIX

    return os.path.join(where, version + SUFFIX)


def _key(path: str) -> Key | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [status.st_ino, status.st_size, status.st_mtime_ns]
