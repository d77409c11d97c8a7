"""After a release: the image's SBOM beside the release manifest (once per version: a released
version never changes, nor does its SBOM), pushed next to the image when the release store is a
registry, and the package diff against the previous version."""
from __future__ import annotations

from ..engine import Engine, Output
from ..errors import display_path
from ..progress import say
from ..model import LABEL_NAMESPACE, LABEL_RESOURCE, Project
from ..registry import Registry
from ..store import RegistryStore, ReleaseStore
from .artifact import push_sbom, sbom_tag
from .diff import diff
from .inventory import read_inventory
from .sbom import created_of, make_sbom, previous_version, read_components, sbom_path, write_sbom
from .wheels import read_wheels


def record_sbom(project: Project, engine: Engine, store: ReleaseStore, name: str, image: str,
                output: Output) -> None:
    resource, settings = project.resources[name], project.settings
    path = sbom_path(settings, name, resource.version)
    if not path.is_file():
        info = engine.inspect(image) if image else None
        if info is None:
            output(f"no SBOM for {name} {resource.version}: its image is not in this engine")
            return
        labels = {LABEL_NAMESPACE: settings.namespace, LABEL_RESOURCE: name}
        packages = read_inventory(engine, image, labels)
        wheels = read_wheels(engine, image, labels) if packages else {}  # as the build's check reads them
        created = created_of(info.labels.get("org.opencontainers.image.created"))
        text = make_sbom(name, resource.version, project.fingerprints[name].build, created, packages,
                         {w.name: w.version for w in wheels.values()})
        path, digest = write_sbom(settings, name, resource.version, text)
        counted = f"{len(packages)} packages" + (f", {len(wheels)} wheels" if wheels else "")
        say(f"{name}: SBOM {display_path(path)} ({counted}, {digest[:19]})")
        before = previous_version(settings, name, resource.version)
        if before is not None:
            changes = diff(read_components(sbom_path(settings, name, before)), read_components(path))
            for line in changes.lines() or ["(no package changes)"]:
                say(f"{name} since {before}: {line}")
    if isinstance(store, RegistryStore) and isinstance(store.registry, Registry):  # (not a test's stand-in)
        tag = sbom_tag(project.fingerprints[name].content_tag)
        repository = resource.repository(settings.namespace)  # as the release store names it
        digest = push_sbom(store.registry, repository, tag, path.read_bytes())
        say(f"{name}: SBOM pushed as {store.registry.address}/{repository}:{tag} ({digest[:19]})")
