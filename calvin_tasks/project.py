"""Load a project: settings → discover → validate → graph → fingerprints."""
from __future__ import annotations

from pathlib import Path

from .configs import load_environments
from .discover import discover
from .fingerprint import fingerprint_all
from .graph import build_order
from .model import Project
from .settings import load_settings
from .validate import validate


def load_project(root: Path) -> Project:
    """Everything checked before anything is built; raises InputError with every problem."""
    settings = load_settings(root)
    resources = validate(discover(settings.resources_dir, root), root)
    order = build_order(resources)
    environments = load_environments(root, resources)
    return Project(settings=settings, resources=resources, order=order,
                   fingerprints=fingerprint_all(resources, order), environments=tuple(environments))
