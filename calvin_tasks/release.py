"""Release: tag policy, immutability, and pushes that really succeeded."""
from __future__ import annotations

from .engine import Engine, Output
from .errors import StepFailed, VersionNotBumped
from .model import Project, content_tag
from .store import Released, ReleaseStore, ensure_local, tested_tag


def release_resource(project: Project, engine: Engine, store: ReleaseStore, name: str, output: Output) -> Released:
    """Tag (and push) <name>:<version>, the content tag and the tested mark; never re-point a version."""
    resource = project.resources[name]
    fingerprint = project.fingerprints[name].build
    existing = store.released(name, resource.version)
    if existing is not None and existing.fingerprint != fingerprint:
        raise VersionNotBumped(
            f"version not bumped: {existing.reference} is released with fingerprint "
            f"{(existing.fingerprint or 'unknown')[:24]}, but '{name}' now has fingerprint {fingerprint[:24]} — "
            f"bump version in {resource.where('version')}; nothing of '{name}' was released")
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


