"""The image layer below build and release: where a resource's image is, by content.

A resource's image is named by its content tag `<namespace>/<name>:fp-…`; it is *released*
under `<name>:<version>` and marked *tested* with `t-<test fingerprint>`. Without a registry the
local engine is the release store; with one, the registry is the artefact repository and the
source of truth.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .engine import Engine, Output
from .errors import CalvinError, EngineError, RegistryUnavailable, StepFailed
from .model import LABEL_FINGERPRINT, LABEL_NAMESPACE, LABEL_RESOURCE, Fingerprints, Project, content_tag

if TYPE_CHECKING:  # the registry's client loads with a registry: the local store never needs it
    from .registry import Registry


@dataclass(frozen=True)
class Released:
    """What the release store holds under <name>:<tag>. What it is, is its digest: the registry's
    manifest digest (in the engine, the image id); the fingerprint is only what the image's label
    claims, which anyone building FROM it can copy."""

    reference: str
    fingerprint: str | None
    image: str = ""
    digest: str = ""


@dataclass(frozen=True)
class Shelf:
    """What the store holds for one resource: its version tag, its content tag (only when it claims the
    current fingerprint), its tested mark, and — when the version tag's image claims another
    fingerprint — that fingerprint's content tag."""

    version: Released | None
    content: Released | None
    tested: Released | None
    older: Released | None = None


def tested_tag(fingerprints: Fingerprints) -> str:
    """Marks, in the release store, the image that passed this version of the smoke tests: named by both
    fingerprints, so a newer image passing the same tests never takes an older release's mark."""
    return "t-" + hashlib.sha256(f"{fingerprints.build}:{fingerprints.test}".encode()).hexdigest()[:24]


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
    def refresh(self, name: str, tags: list[str]) -> None: ...
    def marked(self, name: str, digest: str) -> bool: ...
    def tags(self, name: str) -> list[str]: ...
    def labels(self, name: str, tag: str) -> dict[str, str]: ...
    def fetch(self, name: str, tag: str, output: Output) -> str: ...
    def publish(self, name: str, image: str, tags: list[str], output: Output) -> str: ...


class LocalStore:
    """The engine itself: a release is a local tag."""

    def __init__(self, project: Project, engine: Engine) -> None:
        self.namespace, self.engine = project.settings.namespace, engine

    def released(self, name: str, tag: str) -> Released | None:
        info = self.engine.find(f"{self.namespace}/{name}:{tag}")
        return None if info is None else Released(f"{self.namespace}/{name}:{tag}", info.fingerprint, info.id,
                                                  info.id)

    def refresh(self, name: str, tags: list[str]) -> None:
        for tag in tags:
            self.engine.forget(f"{self.namespace}/{name}:{tag}")

    def tags(self, name: str) -> list[str]:
        return self.engine.tags(f"{self.namespace}/{name}")

    def labels(self, name: str, tag: str) -> dict[str, str]:
        info = self.engine.find(f"{self.namespace}/{name}:{tag}")
        return dict(info.labels) if info is not None else {}

    def marked(self, name: str, digest: str) -> bool:
        """Whether the image `digest` (an image id here) carries a tested mark of `name`."""
        info = self.engine.inspect(digest)
        return info is not None and any(tag.startswith(f"{self.namespace}/{name}:t-") for tag in info.tags)

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
    """A Docker registry: a release is a pushed tag, read back through the registry's API. A VM
    resource's disk is pushed and pulled as an OCI artifact of its own (vm/artifact.py); judged alike."""

    def __init__(self, project: Project, engine: Engine, registry: Registry) -> None:
        self.namespace, self.engine, self.registry = project.settings.namespace, engine, registry
        self.vms = {name: resource.base for name, resource in project.resources.items() if resource.kind == "vm"}
        self.disks = project.settings.output / "disks"

    def _repository(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    def released(self, name: str, tag: str) -> Released | None:
        remote = self.registry.image(self._repository(name), tag)
        if remote is None:
            return None
        image = remote.config_digest  # an image's config digest is its id in any engine
        if name in self.vms:  # an artifact's is not: the engine's image holding the same disk, if any
            from .vm.artifact import vm_image  # (VM artifacts load only for a project with VM resources)
            image = vm_image(self.engine, self._repository(name), remote.labels) or image
        return Released(remote.reference, remote.labels.get(LABEL_FINGERPRINT), image, remote.digest)

    def has(self, name: str, tag: str, fingerprint: str) -> bool:
        found = self.released(name, tag)
        return found is not None and found.fingerprint == fingerprint

    def refresh(self, name: str, tags: list[str]) -> None:
        for tag in tags:
            self.registry.forget(self._repository(name), tag)

    def tags(self, name: str) -> list[str]:
        return self.registry.tags(self._repository(name))

    def labels(self, name: str, tag: str) -> dict[str, str]:
        found = self.registry.image(self._repository(name), tag)
        return dict(found.labels) if found is not None else {}

    def marked(self, name: str, digest: str) -> bool:
        """Whether a tested mark (t-…) of `name` points at `digest`."""
        repository = self._repository(name)
        for tag in self.registry.tags(repository):
            if tag.startswith("t-"):
                found = self.registry.image(repository, tag)
                if found is not None and found.digest == digest:
                    return True
        return False

    def fetch(self, name: str, tag: str, output: Output) -> str:
        if name in self.vms:
            from .vm.artifact import pull_disk
            pulled = pull_disk(self.registry, self.engine, self._repository(name), tag, cache=self.disks, output=output)
            if pulled is not None:
                return pulled  # else a disk released as an image, before Calvin pushed artifacts: pulled as one
        remote = f"{self.registry.address}/{self._repository(name)}"
        image = self.engine.pull(remote, tag, output, auth=self.registry.auth())
        self.engine.tag(image, self._repository(name), tag)
        self.engine.untag(f"{remote}:{tag}")  # the registry-prefixed tag is the registry's, not ours
        return image

    def publish(self, name: str, image: str, tags: list[str], output: Output) -> str:
        self.registry.ping()
        if name in self.vms:
            from .vm.artifact import push_disk
            parent = self.vms[name]
            return push_disk(self.registry, self.engine, self._repository(name), image, tags, cache=self.disks,
                             labels={LABEL_NAMESPACE: self.namespace, LABEL_RESOURCE: name}, output=output,
                             sources=[self._repository(parent)] if parent else [])
        remote = f"{self.registry.address}/{self._repository(name)}"
        digests = set()
        for tag in tags:
            self.engine.tag(image, remote, tag)
            try:
                digests.add(self.engine.push(remote, tag, output, auth=self.registry.auth()))
            except (StepFailed, EngineError) as err:
                raise self._blame(name, tag, err) from None
            self.registry.forget(self._repository(name), tag)
            self.engine.untag(f"{remote}:{tag}")
        if len(digests) != 1:
            raise StepFailed(f"the tags of {remote} were pushed with different digests: {sorted(digests)}")
        return digests.pop()


    def _blame(self, name: str, tag: str, err: CalvinError) -> CalvinError:
        """A failed push, attributed: a registry that stopped answering or fails its storage is named
        with its own words; anything else is the engine's report as it was."""
        what = f"the push of {self._repository(name)}:{tag}"
        self.registry.ping()  # raises when the registry stopped answering (or answers too slowly)
        if " 5" in str(err) or "HTTP status: 5" in str(err):
            why = self.registry.storage_error(self._repository(name))
            if why:
                return RegistryUnavailable(f"the registry at {self.registry.address} failed {what}: {why}")
        return err


def store_for(project: Project, engine: Engine) -> ReleaseStore:
    if project.settings.registry:
        from .credentials import lookup as login_for  # only runs with a registry read credentials
        from .registry import Registry

        address = project.settings.registry
        return RegistryStore(project, engine, Registry(address, timeout=project.settings.registry_timeout,
                                                       credentials=login_for(address)))
    return LocalStore(project, engine)


def shelf(project: Project, store: ReleaseStore, name: str, *, fresh: bool = False) -> Shelf:
    """Read what the store holds for `name`; `fresh` asks again rather than trusting this run's answers
    (another run may have released meanwhile)."""
    fingerprints = project.fingerprints[name]
    version = project.resources[name].version
    tags = [version, fingerprints.content_tag, tested_tag(fingerprints)]
    if fresh:
        store.refresh(name, tags)
    released = store.released(name, version)
    content = store.released(name, fingerprints.content_tag)
    if content is not None and content.fingerprint != fingerprints.build:
        content = None  # not an image of the current inputs
    older = None
    if released is not None and released.fingerprint and released.fingerprint != fingerprints.build:
        older = store.released(name, content_tag(released.fingerprint))
    return Shelf(released, content, store.released(name, tags[2]), older)


def in_store(project: Project, store: ReleaseStore, name: str) -> bool:
    """The store already holds an image of `name`'s current fingerprint: nothing to build."""
    return store.has(name, project.fingerprints[name].content_tag, project.fingerprints[name].build)


def tested_in_store(project: Project, store: ReleaseStore, name: str) -> bool:
    fingerprints = project.fingerprints[name]
    return store.has(name, tested_tag(fingerprints), fingerprints.build)


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
