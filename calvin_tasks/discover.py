"""Find the resources: resources/*/resource.yaml, parsed, judged by nobody yet."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, Problem, display_path
from .source import YamlDocument, load_yaml

RESOURCE_FILE = "resource.yaml"


@dataclass(frozen=True)
class RawResource:
    """A resource folder and its parsed resource.yaml."""

    name: str
    folder: Path
    document: YamlDocument


def scan(resources_dir: Path, root: Path) -> tuple[list[RawResource], list[Problem]]:
    """Every resources/<name>/resource.yaml, sorted by name: the resources that parse, and the
    problems of those that do not (all of them, at once)."""
    if not resources_dir.is_dir():
        raise InputError([Problem(display_path(resources_dir, root), "no resources folder",
                                  hint="create resources/<name>/resource.yaml")])
    found: list[RawResource] = []
    problems: list[Problem] = []
    for name in sorted(folder_names(resources_dir)):
        folder = resources_dir / name
        source = folder / RESOURCE_FILE
        display = display_path(source, root)
        if not source.is_file():
            problems.append(Problem(display, "missing resource.yaml", resource=folder.name,
                                    hint="add one, or move the folder out of resources/"))
            continue
        try:
            found.append(RawResource(folder.name, folder, load_yaml(source, display, resource=folder.name)))
        except InputError as err:
            problems.extend(err.problems)
    return found, problems


def folder_names(resources_dir: Path) -> set[str]:
    """Every resource folder's name, parsed or not: parents may be named before they parse."""
    try:
        with os.scandir(resources_dir) as entries:  # the entries' types come with the listing: no stat each
            return {e.name for e in entries if not e.name.startswith(".") and e.is_dir()}
    except (FileNotFoundError, NotADirectoryError):
        return set()
