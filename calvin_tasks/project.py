"""Load a project: settings → discover → validate → graph → fingerprints."""
from __future__ import annotations

from pathlib import Path

from .configs import load_environments
from .discover import folder_names, scan
from .errors import InputError, Problem
from .model import Settings
from .fingerprint import fingerprint_all
from .graph import build_order
from .model import Project
from .settings import load_settings
from .validate import schema_cache, validate

SCHEMA_CACHE = Path(".calvin") / "schema-ok"


def load_project(root: Path) -> Project:
    """Everything checked before anything is built; raises InputError with every problem."""
    problems: list[Problem] = []
    schema_cache.open(root / SCHEMA_CACHE)
    try:
        settings = load_settings(root)
    except InputError as err:
        problems += err.problems
        settings = Settings(root=root)
    raw, found = scan(settings.resources_dir, root)
    problems += found
    try:
        resources = validate(raw, root, folder_names(settings.resources_dir))
    except InputError as err:
        problems += err.problems
    if problems:
        raise InputError(problems)
    order = build_order(resources, root)
    environments = load_environments(root, resources)
    schema_cache.save()
    return Project(settings=settings, resources=resources, order=order,
                   fingerprints=fingerprint_all(resources, order), environments=tuple(environments))
