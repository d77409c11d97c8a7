"""Truthful outputs and housekeeping against the real engine: the manifest after a release that did
not happen, JUnit reports in a fresh CI workspace, `doit gc`."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from calvin_tasks.project import load_project
from helpers import child_resource, make_project, ran, root_resource, run_doit

pytestmark = pytest.mark.engine


def project(tmp_path: Path, namespace: str) -> Path:
    files: dict[str, str | bytes | Path] = {}
    files.update(root_resource("root"))
    files.update(child_resource("leaf", "root"))
    files["resources/root/tests.yaml"] = "commands:\n  - name: busybox\n    run: [busybox, \"true\"]\n"
    files["resources/leaf/tests.yaml"] = "commands:\n  - name: note\n    run: [cat, /note.txt]\n    stdout: leaf\n"
    return make_project(tmp_path / "p", files, pipeline=f"namespace: {namespace}\n")


def doit(root: Path, namespace: str, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> Any:
    result = run_doit(root, *args, namespace=namespace, env=env)
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def entries(root: Path, output: str = "out") -> dict[str, dict[str, Any]]:
    document = json.loads((root / output / "releases" / "latest.json").read_text())
    return {entry["resource"]: entry for entry in document["resources"]}


def image_id(client: Any, reference: str) -> str | None:
    found = client.api.images(filters={"reference": reference})
    return found[0]["Id"] if found else None


def edit_root(root: Path, text: str) -> None:
    with (root / "resources" / "root" / "Dockerfile").open("a") as handle:
        handle.write(f"LABEL note=\"{text}\"\n")


def test_after_a_release_that_did_not_happen_the_manifest_lists_what_the_version_holds(
        tmp_path: Path, namespace: str, docker_client: Any) -> None:
    root = project(tmp_path, namespace)
    doit(root, namespace)
    released = image_id(docker_client, f"{namespace}/root:1.0.0")
    edit_root(root, "changed, not bumped")
    doit(root, namespace, "build:root", "test:root")
    new = load_project(root).fingerprints["root"]

    result = doit(root, namespace, ok=False)

    assert result.returncode != 0 and "version not bumped" in result.stdout
    entry = entries(root)["root"]
    assert entry["action"] == "not released" and entry["released_by_this_run"] is False
    assert entry["image_id"] == released == image_id(docker_client, f"{namespace}/root:1.0.0")
    assert entry["size"] and entry["fingerprint"] != new.build
    pending = entry["pending"]
    assert pending["fingerprint"] == new.build
    assert pending["image"] == image_id(docker_client, f"{namespace}/root:{new.content_tag}") != released
    assert pending["smoke_tests"]["passed"] is True and pending["smoke_tests"]["this_run"] is False


def test_a_fresh_ci_workspace_gets_a_junit_report_for_every_tested_resource(
        tmp_path: Path, namespace: str) -> None:
    root = project(tmp_path, namespace)
    first = doit(root, namespace, "-n", "2", "-P", "thread")
    # doit also runs teardowns in each worker thread as it stops: the manifest is still written once
    assert first.stdout.count("release manifest") == 1, first.stdout
    assert len(list((root / "out" / "releases").glob("2*.json"))) == 1

    result = doit(root, namespace, env={"CALVIN_OUTPUT": "ci-out"})

    assert ran(result, "build") == [] and ran(result, "test") == []
    for name in ("root", "leaf"):
        suite = ET.parse(root / "ci-out" / "reports" / f"{name}.junit.xml").getroot().find("testsuite")
        assert suite is not None and suite.get("hostname") and re.match(r"\d{4}-\d\d-\d\dT", suite.get("timestamp", ""))
        assert {p.get("name"): p.get("value") for p in suite.iter("property")}["calvin.reused"] == "true"
        assert [case.get("name") for case in suite.findall("testcase")] == ["busybox" if name == "root" else "note"]
        entry = entries(root, "ci-out")[name]
        assert entry["action"] == "carried over" and entry["smoke_tests"]["passed"] is True
        assert entry["size"] and entry["build_seconds"] is not None


def test_gc_removes_superseded_unreleased_images_and_keeps_releases_and_the_current_one(
        tmp_path: Path, namespace: str, docker_client: Any) -> None:
    root = project(tmp_path, namespace)
    doit(root, namespace)  # 1.0.0 released
    edit_root(root, "one")
    doit(root, namespace, "build:root")  # tried, then changed again: superseded, never released
    superseded = load_project(root).fingerprints["root"].content_tag
    edit_root(root, "two")
    source = root / "resources" / "root" / "resource.yaml"
    source.write_text(source.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    doit(root, namespace, "release:root")  # 1.1.0 released: the current fingerprint
    current = load_project(root).fingerprints["root"].content_tag
    kept = {tag: image_id(docker_client, f"{namespace}/root:{tag}") for tag in ("1.0.0", "1.1.0", current)}
    gone = image_id(docker_client, f"{namespace}/root:{superseded}")
    assert gone is not None and None not in kept.values()

    result = doit(root, namespace, "gc")

    output = result.stdout
    assert f"removed {namespace}/root:{superseded}" in output
    assert re.search(r"gc: removed 1 superseded unreleased image\(s\) of namespace '[^']+', freed [0-9.]+ (MB|bytes)",
                     output), output
    assert image_id(docker_client, f"{namespace}/root:{superseded}") is None
    assert {tag: image_id(docker_client, f"{namespace}/root:{tag}") for tag in kept} == kept
    assert image_id(docker_client, f"{namespace}/leaf:1.0.0") is not None

    again = doit(root, namespace, "gc")
    assert "gc: removed 0 superseded" in again.stdout
