"""Garbage: Calvin's superseded, unreleased images of this namespace, and their removal.

An image is garbage when it carries a content tag (`<namespace>/<name>:fp-…`) and
- its fingerprint is not the resource's current one (or the resource is gone), and
- no version tag holds it: neither in the engine nor in the release store.
Everything else is kept: released versions, the current fingerprints, and any image that also
carries a tag Calvin did not make (someone may use it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .engine import Engine
from .errors import CalvinError
from .model import LABEL_FINGERPRINT, LABEL_RESOURCE, Project
from .store import ReleaseStore

CALVIN_TAG_PREFIXES = ("fp-", "t-")  # content tags and tested marks
LABEL_VERSION = "org.opencontainers.image.version"


@dataclass(frozen=True)
class Garbage:
    resource: str
    version: str
    image: str
    tags: tuple[str, ...]  # this namespace's content tags and tested marks naming the image
    size: int


@dataclass(frozen=True)
class Sorted:
    garbage: tuple[Garbage, ...]
    current: int   # images kept: the current fingerprint of a resource
    released: int  # images kept: held by a version tag (engine or release store)
    foreign: int   # images kept: they carry a tag Calvin did not make


def _ours(tag: str, namespace: str) -> tuple[str, str] | None:
    """(resource, tag) for `<namespace>/<resource>:<tag>`, else None."""
    repository, _, name = tag.rpartition(":")
    prefix, _, resource = repository.partition("/")
    if prefix != namespace or "/" in resource or not resource:
        return None
    return resource, name


def _released(store: ReleaseStore, resource: str, version: str, fingerprint: str) -> bool:
    if not version:
        return False
    try:
        return store.has(resource, version, fingerprint)
    except CalvinError:
        return True  # the store cannot say: keep the image, never remove a release by guess


def sort_images(project: Project, engine: Engine, store: ReleaseStore) -> Sorted:
    """This namespace's images: what is garbage, what is kept and why."""
    namespace = project.settings.namespace
    garbage: list[Garbage] = []
    current = released = foreign = 0
    for info in engine.images(f"{namespace}/*"):
        fingerprint = info.labels.get(LABEL_FINGERPRINT)
        resource = info.labels.get(LABEL_RESOURCE)
        tags = [(tag, _ours(tag, namespace)) for tag in info.tags]
        ours = [(tag, found[1]) for tag, found in tags if found is not None and found[0] == resource]
        if not fingerprint or not resource or not any(name.startswith("fp-") for _, name in ours):
            continue  # not a content image of Calvin's
        if resource in project.resources and project.fingerprints[resource].build == fingerprint:
            current += 1
        elif len(ours) < len(tags):  # also tagged elsewhere: someone may use it
            foreign += 1
        elif any(not name.startswith(CALVIN_TAG_PREFIXES) for _, name in ours):  # a version tag in the engine
            released += 1
        elif _released(store, resource, info.labels.get(LABEL_VERSION, ""), fingerprint):
            released += 1
        else:
            garbage.append(Garbage(resource, info.labels.get(LABEL_VERSION, ""), info.id,
                                   tuple(tag for tag, _ in ours), info.size))
    # children before parents: an image something is built on is only untagged, not deleted
    rank = {name: index for index, name in enumerate(project.order)}
    garbage.sort(key=lambda g: -rank.get(g.resource, len(rank)))
    return Sorted(tuple(garbage), current, released, foreign)


def collect(project: Project, engine: Engine, store: ReleaseStore, say: Callable[[str], None]) -> int:
    """Remove the garbage; returns the bytes the engine's image storage shrank by."""
    found = sort_images(project, engine, store)
    before = engine.layers_size() if found.garbage else 0
    for item in found.garbage:
        for tag in item.tags:
            engine.remove_image(tag)
        say(f"removed {item.tags[0]} ({item.resource} {item.version or '?'}, superseded, never released)")
    freed = max(0, before - engine.layers_size()) if found.garbage else 0
    say(f"gc: removed {len(found.garbage)} superseded unreleased image(s) of namespace "
        f"'{project.settings.namespace}', freed {_size(freed)}; kept {found.current} current, "
        f"{found.released} released" + (f", {found.foreign} tagged outside Calvin" if found.foreign else ""))
    return freed


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count} bytes"

