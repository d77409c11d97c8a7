"""A CycloneDX SBOM per released image, from the image's real package set, validated by the
library's own JSON-schema validator; kept at out/releases/sbom/<resource>/<version>.cdx.json.

The document is a function of the image alone (serial number derived from its fingerprint, time
from its created label): the same image gives the same SBOM, byte for byte, and the same digest.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # these load only when an SBOM is made or read: a no-op run needs its facts only
    from packageurl import PackageURL

    from .lock import Package, Packages
    from .wheels import Wheel

from ..errors import StepFailed
from ..files import write_atomic
from ..model import Settings, version_order

SBOM_FOLDER = ("releases", "sbom")
SUFFIX = ".cdx.json"
SOURCE_PROPERTY = "calvin:debian:source"


def deb_purl(package: Package) -> PackageURL:
    from packageurl import PackageURL

    return PackageURL(type="deb", namespace="debian", name=package.name, version=package.version,
                      qualifiers={"arch": package.arch})


def make_sbom(name: str, version: str, fingerprint: str, created: datetime, packages: Packages,
              wheels: Mapping[str, str] | None = None) -> str:
    """The validated CycloneDX 1.5 JSON text for one image."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot5
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL
    import uuid  # imports platform: loaded, like the libraries, only when an SBOM is made

    from .wheels import normalise

    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"calvin:{name}:{fingerprint}"))
    bom.metadata.timestamp = created
    root = Component(name=name, version=version, type=ComponentType.CONTAINER, bom_ref=f"image:{name}@{version}")
    bom.metadata.component = root
    for package in sorted(packages.values()):
        purl = deb_purl(package)
        bom.components.add(Component(name=package.name, version=package.version, type=ComponentType.LIBRARY,
                                     purl=purl, bom_ref=purl.to_string(),
                                     properties=[Property(name=SOURCE_PROPERTY, value=package.source)]))
    for wheel, wheel_version in sorted((wheels or {}).items()):
        purl = PackageURL(type="pypi", name=normalise(wheel), version=wheel_version)  # PEP 503
        bom.components.add(Component(name=wheel, version=wheel_version, type=ComponentType.LIBRARY,
                                     purl=purl, bom_ref=purl.to_string()))
    bom.register_dependency(root, list(bom.components))
    text = json.dumps(json.loads(JsonV1Dot5(bom).output_as_string()), indent=2, sort_keys=True) + "\n"
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
    if error is not None:
        raise StepFailed(f"the SBOM of {name} {version} is not valid CycloneDX 1.5: {error}")
    return text


def sbom_path(settings: Settings, name: str, version: str) -> Path:
    return sbom_folder(settings, name) / (version + SUFFIX)


def sbom_folder(settings: Settings, name: str) -> Path:
    return _folder(settings.output, name)


@cache
def _folder(output: Path, name: str) -> Path:
    """A resource's SBOM folder, joined once per run (a no-op run asks for it per resource)."""
    return output.joinpath(*SBOM_FOLDER, name)


def _sbom_files(settings: Settings, name: str) -> list[str]:
    try:
        names = os.listdir(sbom_folder(settings, name))  # (not Path.glob: a no-op run asks per resource)
    except OSError:
        return []
    return [n for n in names if n.endswith(SUFFIX)]


def versions_with_sbom(settings: Settings, name: str) -> list[str]:
    """The versions of `name` with an SBOM here, oldest first (semantic version order)."""
    return sorted((n[: -len(SUFFIX)] for n in _sbom_files(settings, name)), key=version_order)


def previous_version(settings: Settings, name: str, version: str) -> str | None:
    """The newest version before `version` with an SBOM here."""
    files = _sbom_files(settings, name)
    if files == [version + SUFFIX]:  # the first version with an SBOM: most resources, on most runs
        return None
    order = version_order(version)
    older = [v for v in (n[: -len(SUFFIX)] for n in files) if version_order(v) < order]
    return max(older, key=version_order, default=None)


def write_sbom(settings: Settings, name: str, version: str, text: str) -> tuple[Path, str]:
    path = sbom_path(settings, name, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
    return path, "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def sbom_facts(settings: Settings, name: str, version: str) -> dict[str, Any] | None:
    """For the manifest: the SBOM's package count and digest, when this version has one."""
    path = sbom_path(settings, name, version)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    # counted from the purls' types, read once: the manifest asks on every run, no-op or not
    purls = [str(c.get("purl", "")) for c in json.loads(data).get("components", [])]
    return {"packages": sum(p.startswith("pkg:deb/") and "@" in p for p in purls),
            "wheels": sum(p.startswith("pkg:pypi/") and "@" in p for p in purls),
            "sbom": str(path.relative_to(settings.output)), "sbom_digest": "sha256:" + hashlib.sha256(data).hexdigest()}


def read_packages(path: Path) -> dict[str, Package]:
    """The Debian packages an SBOM lists (its deb purls)."""
    from .lock import Package, by_key

    document = json.loads(path.read_text(encoding="utf-8"))
    packages = []
    for component in document.get("components", []):
        purl = _purl(component.get("purl", "pkg:generic/none"))
        if purl.type == "deb" and purl.version:
            qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
            packages.append(Package(purl.name, purl.version, qualifiers.get("arch", "all"),
                                    _source(component) or purl.name))
    return by_key(packages)


def read_wheels(path: Path) -> dict[str, Wheel]:
    """The Python distributions an SBOM lists (its pypi purls)."""
    from .wheels import Wheel, normalise, wheels_by_key

    document = json.loads(path.read_text(encoding="utf-8"))
    purls = [_purl(c.get("purl", "pkg:generic/none")) for c in document.get("components", [])]
    return wheels_by_key([Wheel(normalise(p.name), p.version) for p in purls if p.type == "pypi" and p.version])


def read_components(path: Path) -> dict[str, Package | Wheel]:
    """Everything an SBOM lists, Debian packages (name:arch) and wheels (pypi:name), for diffs."""
    return {**read_packages(path), **read_wheels(path)}


def _source(component: dict[str, Any]) -> str | None:
    for prop in component.get("properties", []):
        if prop.get("name") == SOURCE_PROPERTY:
            return str(prop.get("value"))
    return None


def created_of(label: str | None) -> datetime:
    if label:
        try:
            return datetime.strptime(label, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return datetime(1970, 1, 1, tzinfo=timezone.utc)


def _purl(text: str) -> PackageURL:
    from packageurl import PackageURL

    return PackageURL.from_string(text)
