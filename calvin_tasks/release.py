"""Release: tag policy, immutability, pushes that really succeeded, and the release manifest.

Without a registry the local engine is the release store; with one, the registry is
the artefact repository and the source of truth.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from .build import content_reference, image_for
from .engine import Engine, Output
from .errors import CalvinError, StepFailed, VersionNotBumped, display_path
from .model import LABEL_FINGERPRINT, TIMESTAMP, Project, content_tag
from .registry import Registry
from .files import write_atomic
from .results import read_summary
from .source import load_yaml


@dataclass(frozen=True)
class Released:
    """What the release store holds under <name>:<version>."""

    reference: str
    fingerprint: str | None
    image: str = ""
    digest: str = ""


def tested_tag(test_fingerprint: str) -> str:
    """Marks, in the release store, the image that passed this version of the smoke tests."""
    return f"t-{test_fingerprint[:24]}"


class ReleaseStore(Protocol):
    def released(self, name: str, version: str) -> Released | None: ...
    def has(self, name: str, tag: str, fingerprint: str) -> bool: ...
    def fetch(self, name: str, tag: str, output: Output) -> str: ...
    def publish(self, name: str, image: str, tags: list[str], output: Output) -> str: ...


class LocalStore:
    """The engine itself: a release is a local tag."""

    def __init__(self, project: Project, engine: Engine) -> None:
        self.namespace, self.engine = project.settings.namespace, engine

    def _info(self, name: str, tag: str) -> Any:
        return self.engine.find(f"{self.namespace}/{name}:{tag}")

    def released(self, name: str, version: str) -> Released | None:
        info = self._info(name, version)
        return None if info is None else Released(f"{self.namespace}/{name}:{version}", info.fingerprint, info.id)

    def has(self, name: str, tag: str, fingerprint: str) -> bool:
        info = self._info(name, tag)
        return info is not None and info.fingerprint == fingerprint

    def fetch(self, name: str, tag: str, output: Output) -> str:
        raise StepFailed(f"{self.namespace}/{name}:{tag} is not in the engine and no registry is configured")

    def publish(self, name: str, image: str, tags: list[str], output: Output) -> str:
        for tag in tags:
            self.engine.tag(image, f"{self.namespace}/{name}", tag)
        return ""


class RegistryStore:
    """A Docker registry: a release is a pushed tag, read back through the registry's API."""

    def __init__(self, project: Project, engine: Engine, registry: Registry) -> None:
        self.namespace, self.engine, self.registry = project.settings.namespace, engine, registry

    def _repository(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    def released(self, name: str, version: str) -> Released | None:
        remote = self.registry.image(self._repository(name), version)
        if remote is None:
            return None
        return Released(remote.reference, remote.labels.get(LABEL_FINGERPRINT), "", remote.digest)

    def has(self, name: str, tag: str, fingerprint: str) -> bool:
        remote = self.registry.image(self._repository(name), tag)
        return remote is not None and remote.labels.get(LABEL_FINGERPRINT) == fingerprint

    def fetch(self, name: str, tag: str, output: Output) -> str:
        remote = f"{self.registry.address}/{self._repository(name)}"
        image = self.engine.pull(remote, tag, output)
        self.engine.tag(image, self._repository(name), tag)
        return image

    def publish(self, name: str, image: str, tags: list[str], output: Output) -> str:
        self.registry.ping()
        remote = f"{self.registry.address}/{self._repository(name)}"
        digests = set()
        for tag in tags:
            self.engine.tag(image, remote, tag)
            digests.add(self.engine.push(remote, tag, output))
            self.registry.forget(self._repository(name), tag)
        if len(digests) != 1:
            raise StepFailed(f"the tags of {remote} were pushed with different digests: {sorted(digests)}")
        return digests.pop()


def store_for(project: Project, engine: Engine) -> ReleaseStore:
    if project.settings.registry:
        return RegistryStore(project, engine, Registry(project.settings.registry))
    return LocalStore(project, engine)


def ensure_local(project: Project, engine: Engine, store: ReleaseStore, name: str, output: Output) -> str:
    """The image of `name`'s current fingerprint in the engine, pulled from the store if need be."""
    image = image_for(project, engine, name)
    if image is not None:
        return image
    tag = project.fingerprints[name].content_tag
    if store.has(name, tag, project.fingerprints[name].build):
        output(f"pulling {name} ({tag}) from the release store")
        store.fetch(name, tag, output)
        image = image_for(project, engine, name)
    if image is None:
        raise StepFailed(f"no image of '{name}' with its current fingerprint ({content_reference(project, name)})")
    return image


def in_store(project: Project, store: ReleaseStore, name: str) -> bool:
    """The store already holds an image of `name`'s current fingerprint: nothing to build."""
    return store.has(name, project.fingerprints[name].content_tag, project.fingerprints[name].build)


def tested_in_store(project: Project, store: ReleaseStore, name: str) -> bool:
    fingerprints = project.fingerprints[name]
    return store.has(name, tested_tag(fingerprints.test), fingerprints.build)


def is_released(project: Project, store: ReleaseStore, name: str) -> bool:
    """<name>:<version> holds this fingerprint, and the store marks it tested with these tests."""
    released = store.released(name, project.resources[name].version)
    return (released is not None and released.fingerprint == project.fingerprints[name].build
            and tested_in_store(project, store, name))


def release_resource(project: Project, engine: Engine, store: ReleaseStore, name: str, output: Output) -> Released:
    """Tag (and push) <name>:<version>, the content tag and the tested mark; never re-point a version."""
    resource = project.resources[name]
    fingerprint = project.fingerprints[name].build
    existing = store.released(name, resource.version)
    if existing is not None and existing.fingerprint != fingerprint:
        line = load_yaml(resource.source, display_path(resource.source)).line_of(("version",))
        raise VersionNotBumped(
            f"version not bumped: {existing.reference} is released with fingerprint "
            f"{(existing.fingerprint or 'unknown')[:24]}, but '{name}' now has fingerprint {fingerprint[:24]} — "
            f"bump version in {display_path(resource.source)}:{line}; nothing of '{name}' was released")
    marks = [content_tag(fingerprint), tested_tag(project.fingerprints[name].test)]
    tags = [tag for tag in marks if not store.has(name, tag, fingerprint)]
    if existing is None:
        tags.append(resource.version)  # last: a version tag only ever names a complete release
    if not tags:
        output(f"{existing.reference if existing else name} is released and marked tested")
        return existing or Released(name, fingerprint)
    image = ensure_local(project, engine, store, name, output)
    digest = store.publish(name, image, tags, output)
    after = store.released(name, resource.version)
    if after is None or after.fingerprint != fingerprint:
        raise StepFailed(f"{name}:{resource.version} does not hold fingerprint {fingerprint[:24]} after the release")
    output(f"released {after.reference}" + (f" ({digest})" if digest else ""))
    return Released(after.reference, fingerprint, image, digest or after.digest)


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
