"""Release: tag policy, immutability judged by digests, and pushes read back.

A version tag is pushed last, so it only ever names a complete release (content tag and tested
mark on the same digest). Before pushing, the store is read afresh: another run (on this machine
or another sharing the registry) may have released meanwhile; after pushing, the version tag is
read back, and a release that another run won is reported as such, never as ours.
"""
from __future__ import annotations

from .engine import Engine, Output
from .errors import StepFailed, TagMoved, VersionNotBumped
from .ledger import record, released_digest
from .model import Project
from .plan import release_status
from .store import Released, ReleaseStore, Shelf, ensure_local, shelf, tested_tag


def release_resource(project: Project, engine: Engine, store: ReleaseStore, name: str, output: Output) -> Released:
    """Tag (and push) the content tag, the tested mark and <name>:<version>; never re-point a version."""
    resource, fingerprints = project.resources[name], project.fingerprints[name]
    settings = project.settings
    found = shelf(project, store, name, fresh=True)
    status, why = release_status(found, fingerprints.build, released_digest(settings, name, resource.version))
    reference = f"{resource.repository(settings.namespace)}:{resource.version}"
    if status == "not-bumped":
        raise VersionNotBumped(f"version not bumped: {reference} {why} in {resource.where('version')}; "
                               f"nothing of '{name}' was released")
    if status == "moved":
        raise TagMoved(f"{reference} {why}; nothing of '{name}' was released")
    if status == "released" and found.version is not None:
        output(f"{reference} is released and marked tested")
        return found.version
    image = ensure_local(project, engine, store, name, output)
    if found.content is not None and found.content.image != image:
        # another build of these very inputs is already the content tag (another run pushed it):
        # release that one, so the content tag, the tested mark and the version stay on one digest
        output(f"{fingerprints.content_tag} holds another build of these inputs ({found.content.digest[:19]}); "
               "releasing that one")
        image = store.fetch(name, fingerprints.content_tag, output)
    tags = _missing(found, fingerprints.content_tag, tested_tag(fingerprints.test), resource.version)
    digest = store.publish(name, image, tags, output) or image
    after = shelf(project, store, name, fresh=True)
    if after.version is None or after.content is None:
        raise StepFailed(f"{reference} is not in the release store after the release (read back)")
    if after.version.digest != digest:
        if after.version.digest != after.content.digest:
            raise StepFailed(f"{reference} points at {after.version.digest} after the release, not at the content "
                             f"tag's {after.content.digest}: another run or a person changed it meanwhile")
        output(f"released by another run as {after.version.digest} (this run's {digest[:19]} is not the release)")
        record(settings, name, resource.version, after.version.digest, fingerprints.build, "another run")
        return after.version
    record(settings, name, resource.version, digest, fingerprints.build, "this run")
    output(f"released {reference} ({digest})")
    return Released(after.version.reference, fingerprints.build, image, digest)


def _missing(found: Shelf, content: str, tested: str, version: str) -> list[str]:
    """The tags to push, the version last; a tag already on the content tag's digest is kept."""
    tags = []
    if found.content is None:
        tags.append(content)
    if found.tested is None or found.content is None or found.tested.digest != found.content.digest:
        tags.append(tested)
    if found.version is None:
        tags.append(version)
    return tags
