"""The image layer below build and release: where a resource's image is, by content.

A resource's image is named by its content tag `<namespace>/<name>:fp-…`; it is *released*
under `<name>:<version>` and marked *tested* with `t-<test fingerprint>`. Without a registry the
local engine is the release store; with one, the registry is the artefact repository and the
source of truth.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .engine import Engine, Output
from .errors import StepFailed
from .model import LABEL_FINGERPRINT, Project
from .registry import Registry


@dataclass(frozen=True)
class Released:
    """What the release store holds under <name>:<tag>."""

    reference: str
    fingerprint: str | None
    image: str = ""
    digest: str = ""


def tested_tag(test_fingerprint: str) -> str:
    """Marks, in the release store, the image that passed this version of the smoke tests."""
    return f"t-{test_fingerprint[:24]}"


def content_reference(project: Project, name: str) -> str:
    """<namespace>/<name>:fp-…: the image of `name`'s current inputs."""
    resource = project.resources[name]
    return f"{resource.repository(project.settings.namespace)}:{project.fingerprints[name].content_tag}"


def image_for(project: Project, engine: Engine, name: str) -> str | None:
    """The id of the image holding `name`'s current fingerprint, if the engine has it."""
    info = engine.find(content_reference(project, name))
    if info is None or info.fingerprint != project.fingerprints[name].build:
        return None
    return info.id


class ReleaseStore(Protocol):
    def released(self, name: str, tag: str) -> Released | None: ...
    def has(self, name: str, tag: str, fingerprint: str) -> bool: ...
    def fetch(self, name: str, tag: str, output: Output) -> str: ...
    def publish(self, name: str, image: str, tags: list[str], output: Output) -> str: ...


class LocalStore:
    """The engine itself: a release is a local tag."""

    def __init__(self, project: Project, engine: Engine) -> None:
        self.namespace, self.engine = project.settings.namespace, engine

    def released(self, name: str, tag: str) -> Released | None:
        info = self.engine.find(f"{self.namespace}/{name}:{tag}")
        return None if info is None else Released(f"{self.namespace}/{name}:{tag}", info.fingerprint, info.id)

    def has(self, name: str, tag: str, fingerprint: str) -> bool:
        found = self.released(name, tag)
        return found is not None and found.fingerprint == fingerprint

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

    def released(self, name: str, tag: str) -> Released | None:
        remote = self.registry.image(self._repository(name), tag)
        if remote is None:
            return None
        return Released(remote.reference, remote.labels.get(LABEL_FINGERPRINT), remote.config_digest,
                        remote.digest)

    def has(self, name: str, tag: str, fingerprint: str) -> bool:
        found = self.released(name, tag)
        return found is not None and found.fingerprint == fingerprint

    def fetch(self, name: str, tag: str, output: Output) -> str:
        remote = f"{self.registry.address}/{self._repository(name)}"
        image = self.engine.pull(remote, tag, output)
        self.engine.tag(image, self._repository(name), tag)
        self.engine.untag(f"{remote}:{tag}")  # the registry-prefixed tag is the registry's, not ours
        return image

    def publish(self, name: str, image: str, tags: list[str], output: Output) -> str:
        self.registry.ping()
        remote = f"{self.registry.address}/{self._repository(name)}"
        digests = set()
        for tag in tags:
            self.engine.tag(image, remote, tag)
            digests.add(self.engine.push(remote, tag, output))
            self.registry.forget(self._repository(name), tag)
            self.engine.untag(f"{remote}:{tag}")
        if len(digests) != 1:
            raise StepFailed(f"the tags of {remote} were pushed with different digests: {sorted(digests)}")
        return digests.pop()


def store_for(project: Project, engine: Engine) -> ReleaseStore:
    if project.settings.registry:
        return RegistryStore(project, engine, Registry(project.settings.registry))
    return LocalStore(project, engine)


def in_store(project: Project, store: ReleaseStore, name: str) -> bool:
    """The store already holds an image of `name`'s current fingerprint: nothing to build."""
    return store.has(name, project.fingerprints[name].content_tag, project.fingerprints[name].build)


def tested_in_store(project: Project, store: ReleaseStore, name: str) -> bool:
    fingerprints = project.fingerprints[name]
    return store.has(name, tested_tag(fingerprints.test), fingerprints.build)


def ensure_local(project: Project, engine: Engine, store: ReleaseStore, name: str, output: Output) -> str:
    """The image of `name`'s current fingerprint in the engine, pulled from the store if need be."""
    image = image_for(project, engine, name)
    if image is not None:
        return image
    tag = project.fingerprints[name].content_tag
    if in_store(project, store, name):
        output(f"pulling {name} ({tag}) from the release store")
        store.fetch(name, tag, output)
        image = image_for(project, engine, name)
    if image is None:
        raise StepFailed(f"no image of '{name}' with its current fingerprint ({content_reference(project, name)})")
    return image
