"""An image's real package set: its dpkg status file, read from the image without running anything
in it (no network, no shell needed: a FROM scratch image with a status file works as well)."""
from __future__ import annotations

from typing import Mapping

from ..engine import Engine
from .lock import Package, by_key

STATUS_FILE = "/var/lib/dpkg/status"
STATUS_LIMIT = 64 * 1024 * 1024


def parse_status(text: str) -> dict[str, Package]:
    """The installed packages of a dpkg status file (Status: install ok installed), by name:arch."""
    packages = []
    from debian.deb822 import Deb822  # loaded when a build is checked, not on a no-op

    for paragraph in Deb822.iter_paragraphs(text.splitlines(keepends=True)):
        name, version = paragraph.get("Package"), paragraph.get("Version")
        if not name or not version or not str(paragraph.get("Status", "")).endswith(" installed"):
            continue
        source = str(paragraph.get("Source") or name).split(" ")[0]  # "src (version)" → src
        packages.append(Package(str(name), str(version), str(paragraph.get("Architecture") or "all"), source))
    return by_key(packages)


def read_inventory(engine: Engine, image: str, labels: Mapping[str, str]) -> dict[str, Package]:
    """The image's installed Debian packages; empty when it has no dpkg status file."""
    found = engine.read_path(image=image, path=STATUS_FILE, labels=labels, limit=STATUS_LIMIT)
    if found is None or found.type != "file":
        return {}
    return parse_status(found.content.decode("utf-8", "replace"))
