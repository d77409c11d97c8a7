"""Release: tag policy, immutability judged by digests, and pushes read back.

The content tag goes first and decides which build of these inputs is released (another run may
have pushed one already: that one is released, ours is not); the tested mark follows, and the
version tag last, so a version only ever names a complete release. Every step reads the store
afresh; after the push the version tag is read back, and a release another run won is reported
as such — never as ours.
"""
from __future__ import annotations

from .engine import Engine, Output
from .errors import StepFailed, TagMoved, VersionNotBumped
from .ledger import record, released_digest
from .model import Project
from .plan import release_status
from .progress import say
from .store import Released, ReleaseStore, ensure_local, shelf, tested_tag


def release_resource(project: Project, engine: Engine, store: ReleaseStore, name: str, output: Output) -> Released:
    """Tag (and push) the content tag, the tested mark and <name>:<version>; never re-point a version."""
    resource, fingerprints = project.resources[name], project.fingerprints[name]
    settings = project.settings
    recorded = released_digest(settings, name, resource.version)
    found = shelf(project, store, name, fresh=True)
    status, why = release_status(found, fingerprints.build, recorded)
    reference = f"{resource.repository(settings.namespace)}:{resource.version}"
    if status == "not-bumped":
        raise VersionNotBumped(f"version not bumped: {reference} {why} in {resource.where('version')}; "
                               f"nothing of '{name}' was released")
    if status == "moved":
        raise TagMoved(f"{reference} {why}; nothing of '{name}' was released")
    content, tested = fingerprints.content_tag, tested_tag(fingerprints)
    if found.version is not None:  # released (status released or unmarked): mark the release itself
        if status == "unmarked":
            image = _local(engine, store, name, resource.version, found.version.image, output)
            store.publish(name, image, [tested], output)
            say(f"{name:>20} | {reference} is released; marked tested ({tested})")
        else:
            say(f"{name:>20} | {reference} is released and marked tested")
        if recorded != found.version.digest:
            record(settings, name, resource.version, found.version.digest, fingerprints.build, "an earlier run")
        return found.version
    image = ensure_local(project, engine, store, name, output)
    if found.content is None:
        store.publish(name, image, [content], output)
        found = shelf(project, store, name, fresh=True)
    if found.content is None:
        raise StepFailed(f"{name}:{content} is not in the release store after pushing it (read back)")
    if found.content.image != image:
        # another build of these very inputs holds the content tag (another run pushed it first):
        # release that one, so content tag, tested mark and version stay on one digest
        say(f"{name:>20} | {content} holds another build of these inputs ({found.content.digest[:19]}); "
            "releasing that one")
        image = store.fetch(name, content, output)
    tags = [tested] if found.tested is None or found.tested.digest != found.content.digest else []
    store.publish(name, image, tags + [resource.version], output)
    after = shelf(project, store, name, fresh=True)
    if after.version is None or after.content is None:
        raise StepFailed(f"{reference} is not in the release store after the release (read back)")
    if after.version.digest != found.content.digest:
        if after.version.digest != after.content.digest:
            raise StepFailed(f"{reference} points at {after.version.digest} after the release, not at the content "
                             f"tag's {after.content.digest}: another run or a person changed it meanwhile")
        say(f"{name:>20} | released by another run as {after.version.digest} (this run's "
            f"{found.content.digest[:19]} is not the release)")
        record(settings, name, resource.version, after.version.digest, fingerprints.build, "another run")
        return after.version
    record(settings, name, resource.version, after.version.digest, fingerprints.build, "this run")
    say(f"{name:>20} | released {reference} ({after.version.digest})")
    return Released(after.version.reference, fingerprints.build, image, after.version.digest)


def _local(engine: Engine, store: ReleaseStore, name: str, version: str, image: str, output: Output) -> str:
    """The released image in the engine (pulled from the store when it is not)."""
    if engine.inspect(image) is not None:
        return image
    return store.fetch(name, version, output)
