"""Load a project: settings → discover → validate → graph → walk each folder once → fingerprints."""
from __future__ import annotations

from pathlib import Path

from .context import walk
from .discover import folder_names, scan
from .environments import load_environments
from .errors import InputError, Problem
from .fingerprint import fingerprint_all
from .graph import build_order
from .model import Project, Settings
from .schema import SchemaCache
from .settings import load_settings
from .validate import validate

SCHEMA_CACHE = Path(".calvin") / "schema-ok"


def load_project(root: Path) -> Project:
    """Everything checked before anything is built; raises InputError with every problem."""
    problems: list[Problem] = []
    cache = SchemaCache(root / SCHEMA_CACHE)
    try:
        settings = load_settings(root, cache=cache)
    except InputError as err:
        problems += err.problems
        settings = Settings(root=root)
    raw, found = scan(settings.resources_dir, root)
    problems += found
    try:
        resources = validate(raw, root, folder_names(settings.resources_dir), cache=cache)
    except InputError as err:
        problems += err.problems
    if problems:
        raise InputError(problems)
    order = build_order(resources)
    environments = load_environments(root, resources, cache=cache)
    cache.save()
    inputs = {name: walk(resources[name]) for name in order}
    return Project(settings=settings, resources=resources, order=order, inputs=inputs,
                   fingerprints=fingerprint_all(resources, order, inputs), environments=tuple(environments))
