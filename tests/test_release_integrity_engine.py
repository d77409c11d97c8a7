"""A release is known by its digest, never by a label a stranger can copy (real engine and registry).

An image built FROM a released one inherits its `calvin.fingerprint` label; pushing it under the
release's tag must be reported as a moved tag, with both digests, and block the resource and
everything built on it — nothing is built, tested or released until a person acts.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from calvin_tasks.project import load_project
from helpers import RegistryProcess, child_resource, make_project, ran, root_resource, run_doit

pytestmark = pytest.mark.engine

DIGEST = r"sha256:[0-9a-f]{64}"


def chain(tmp_path: Path) -> Path:
    files: dict[str, str | Path] = {**root_resource("base"), **child_resource("slow", "base"),
                                    **child_resource("leaf", "slow")}
    return make_project(tmp_path / "project", files)


def doit(project: Path, namespace: str, registry: RegistryProcess | None, *args: str) -> Any:
    env = {"CALVIN_REGISTRY": registry.address} if registry else {}
    return run_doit(project, *args, namespace=namespace, env=env)


def move_tag(docker_client: Any, source: str, target: str, push: bool) -> None:
    """What an attacker does: build FROM the release, add a file, and put it under the release's tag."""
    dockerfile = f"FROM {source}\nRUN echo x > /evil.txt\n".encode()
    repository, tag = target.rsplit(":", 1)
    for _ in docker_client.api.build(fileobj=io.BytesIO(dockerfile), tag=target, rm=True, decode=True):
        pass
    if push:
        for chunk in docker_client.api.push(repository, tag=tag, stream=True, decode=True):
            assert "error" not in chunk, chunk


def test_a_release_tag_moved_in_the_registry_is_reported_and_blocks_its_descendants(
        tmp_path: Path, namespace: str, registry: RegistryProcess, docker_client: Any) -> None:
    project = chain(tmp_path)
    first = doit(project, namespace, registry)
    assert first.returncode == 0, first.stdout + first.stderr
    released = registry.digest(f"{namespace}/slow", "1.0.0")
    remote = f"{registry.address}/{namespace}/slow:1.0.0"
    docker_client.api.pull(f"{registry.address}/{namespace}/slow", tag="1.0.0")
    move_tag(docker_client, remote, remote, push=True)
    moved = registry.digest(f"{namespace}/slow", "1.0.0")
    assert moved != released
    # the attacker's image carries the release's fingerprint label: labels prove nothing
    fingerprint = load_project(project).fingerprints["slow"].build
    assert registry.labels(f"{namespace}/slow", "1.0.0")["calvin.fingerprint"] == fingerprint

    plan = doit(project, namespace, registry, "plan")
    assert re.search(rf"release:slow\s+blocked\s+tag moved: {namespace}/slow:1.0.0 now points at {moved} which "
                     rf"Calvin did not release; the release was {released}", plan.stdout), plan.stdout
    assert re.search(r"release:leaf\s+blocked\s+its base slow is blocked", plan.stdout), plan.stdout

    run = doit(project, namespace, registry)
    assert run.returncode != 0
    assert ran(run, "build") == [] and ran(run, "release") == []
    message = f"{namespace}/slow:1.0.0 now points at {moved} which Calvin did not release; the release was {released}"
    assert message in run.stdout, run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert registry.digest(f"{namespace}/slow", "1.0.0") == moved  # Calvin never re-points a release tag


def test_a_release_tag_moved_in_the_local_engine_is_reported(
        tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = chain(tmp_path)
    assert doit(project, namespace, None).returncode == 0
    released = docker_client.api.inspect_image(f"{namespace}/slow:1.0.0")["Id"]
    move_tag(docker_client, f"{namespace}/slow:1.0.0", f"{namespace}/slow:1.0.0", push=False)
    moved = docker_client.api.inspect_image(f"{namespace}/slow:1.0.0")["Id"]

    run = doit(project, namespace, None)

    assert run.returncode != 0 and ran(run, "build") == []
    assert (f"{namespace}/slow:1.0.0 now points at {moved} which Calvin did not release; "
            f"the release was {released}") in run.stdout, run.stdout


def test_a_release_is_recorded_by_digest_and_a_rerun_changes_nothing(
        tmp_path: Path, namespace: str, registry: RegistryProcess) -> None:
    project = chain(tmp_path)
    assert doit(project, namespace, registry).returncode == 0
    record = (project / "out" / "state" / "releases" / f"{namespace}--slow--1.0.0.json").read_text()
    assert registry.digest(f"{namespace}/slow", "1.0.0") in record
    for name in ("base", "slow", "leaf"):
        tags = {tag: digest for tag, digest in registry.snapshot(f"{namespace}/{name}").items()
                if tag == "1.0.0" or tag.startswith(("fp-", "t-"))}  # (the SBOM is an artifact of its own)
        assert len(tags) == 3 and len(set(tags.values())) == 1, tags  # version, content tag and tested mark: one digest
        assert re.fullmatch(DIGEST, next(iter(tags.values())) or ""), tags
    again = doit(project, namespace, registry)
    assert again.returncode == 0 and ran(again, "release") == [] and ran(again, "build") == []
