"""Build and test fingerprints: the same inputs give the same hash on any machine.

No file times, owners or absolute paths go in: only paths inside the resource
folder, the executable bit, contents, the parsed build settings and the parent's
content fingerprint; the build fingerprint adds the version the image is labelled with.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

from .model import Entry, Fingerprints, Inputs, Resource

BUILD_FORMAT = "calvin-build-1"
TEST_FORMAT = "calvin-test-1"


def _digest(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _files(entries: tuple[Entry, ...]) -> list[list[str]]:
    rows = []
    for e in entries:
        detail = e.digest if e.kind == "file" else e.target
        rows.append([e.path, e.kind, "x" if e.executable else "-", detail])
    return rows


def fingerprint_all(resources: Mapping[str, Resource], order: tuple[str, ...],
                    inputs: Mapping[str, Inputs]) -> dict[str, Fingerprints]:
    """Fingerprints in build order, each build fingerprint covering its parent's."""
    result: dict[str, Fingerprints] = {}
    for name in order:
        resource = resources[name]
        build_entries, test_entries = inputs[name].build, inputs[name].test
        parent = result[resource.base].content if resource.base else None
        content = _digest({"format": BUILD_FORMAT, "name": name, "build": resource.build.settings(),
                           "files": _files(build_entries), "parent": parent})
        build = _digest({"format": BUILD_FORMAT, "content": content, "version": resource.version})
        test = _digest({"format": TEST_FORMAT, "files": _files(test_entries)})
        result[name] = Fingerprints(build=build, test=test, content=content)
    return result
