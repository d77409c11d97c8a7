"""`doit verify <r>`: build the resource again, in a private namespace, on its parent's current
image, and compare with the image its fingerprint names: a root must come out with the identical
image id; any image must have the same file tree (paths, types, modes, owners, content digests —
timestamps counted separately) and the same package set. Each difference is named."""
from __future__ import annotations

import dataclasses
import secrets
from typing import Callable

from ..build import build_resource
from ..engine import Engine, Output
from ..model import LABEL_NAMESPACE, LABEL_RESOURCE, Project
from .inventory import read_inventory
from .lock import differences
from .wheels import read_wheels

SHOWN = 20
# what the engine puts into every container it exports (mount points): not the image's own
ENGINE_MADE = ("/.dockerenv", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mtab", "/dev", "/proc", "/sys")


def _engine_made(path: str) -> bool:
    return any(path == made or path.startswith(made + "/") for made in ENGINE_MADE)


@dataclasses.dataclass(frozen=True)
class Verdict:
    same_id: bool
    tree: list[str]  # differences in paths, types, modes, owners, contents
    timestamps: int  # paths whose only difference is their time
    packages: list[str]

    @property
    def reproduced(self) -> bool:
        return not self.tree and not self.packages


def compare_trees(old: dict[str, tuple[str, int, int, int, str, int]],
                  new: dict[str, tuple[str, int, int, int, str, int]]) -> tuple[list[str], int]:
    found, times = [], 0
    for path in sorted(p for p in set(old) | set(new) if not _engine_made(p)):
        a, b = old.get(path), new.get(path)
        if a is None:
            found.append(f"{path}: only in the rebuild")
        elif b is None:
            found.append(f"{path}: missing from the rebuild")
        elif a[:5] != b[:5]:
            what = [field for field, x, y in zip(("type", "mode", "uid", "gid", "content"), a, b) if x != y]
            found.append(f"{path}: {', '.join(what)} differ")
        elif a[5] != b[5]:
            times += 1
    return found, times


def verify(project: Project, engine: Engine, name: str, image: str, parent_image: str | None,
           output: Output, say: Callable[[str], None]) -> Verdict:
    private = f"{project.settings.namespace}-verify-{secrets.token_hex(3)}"
    shadow = dataclasses.replace(project, settings=dataclasses.replace(project.settings, namespace=private))
    labels = {LABEL_NAMESPACE: private, LABEL_RESOURCE: name}
    rebuilt = build_resource(shadow, engine, name, output, parent_image, fresh=True)
    reference = f"{project.resources[name].repository(private)}:{project.fingerprints[name].content_tag}"
    try:
        say(f"{name}: released/current image {image[7:19]}, rebuilt {rebuilt[7:19]} in namespace {private}")
        tree, times = compare_trees(engine.file_tree(image=image, labels=labels),
                                    engine.file_tree(image=rebuilt, labels=labels))
        packages = differences(read_inventory(engine, image, labels), read_inventory(engine, rebuilt, labels))
        packages += differences(read_wheels(engine, image, labels), read_wheels(engine, rebuilt, labels))
        return Verdict(image == rebuilt, tree, times, packages)
    finally:
        engine.remove_image(reference)
