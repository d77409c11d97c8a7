"""The release manifest: per resource version, fingerprints, image, digest, parent and tests."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .engine import Engine
from .errors import CalvinError
from .files import write_atomic
from .model import TIMESTAMP, Project
from .results import read_summary
from .store import ReleaseStore, image_for

_manifest_lock = threading.Lock()


def manifest_entry(project: Project, engine: Engine, store: ReleaseStore, name: str) -> dict[str, Any]:
    resource = project.resources[name]
    try:
        released = store.released(name, resource.version)
        store_error = None
    except CalvinError as err:  # the registry went away: say so in the manifest, keep the rest
        released, store_error = None, str(err)
    summary = read_summary(project.settings, name)
    parent = project.parent(name)
    return {
        "resource": name,
        "version": resource.version,
        "group": resource.group,
        "fingerprint": project.fingerprints[name].build,
        "test_fingerprint": project.fingerprints[name].test,
        "released": released is not None and released.fingerprint == project.fingerprints[name].build,
        "reference": released.reference if released else None,
        "image_id": image_for(project, engine, name),
        "digest": released.digest if released and released.digest else None,
        "parent": parent.name if parent else None,
        "parent_fingerprint": project.fingerprints[parent.name].build if parent else None,
        **({"store_error": store_error} if store_error else {}),
        "smoke_tests": None if summary is None or summary.get("build_fingerprint") != project.fingerprints[name].build
        else {"passed": summary.get("passed"), **summary.get("counts", {}), "time": summary.get("time")},
    }


def write_manifest(project: Project, engine: Engine, store: ReleaseStore) -> Path:
    """out/releases/<time>.json for this run, and out/releases/latest.json."""
    now = datetime.now(timezone.utc)
    document = {
        "time": now.strftime(TIMESTAMP),
        "namespace": project.settings.namespace,
        "registry": project.settings.registry,
        "resources": [manifest_entry(project, engine, store, name) for name in project.order],
    }
    text = json.dumps(document, indent=2) + "\n"
    folder = project.settings.output / "releases"
    path = folder / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    latest = folder / "latest.json"
    try:
        previous = json.loads(latest.read_text())
    except (OSError, ValueError):
        previous = {}
    if {k: v for k, v in previous.items() if k != "time"} == {k: v for k, v in document.items() if k != "time"}:
        return latest
    with _manifest_lock:
        write_atomic(path, text)
        write_atomic(folder / "latest.json", text)
    return path
