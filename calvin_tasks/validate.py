"""Judge the raw input: JSON Schema first, then what a schema cannot say."""
from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import dockerfile
from .discover import RawResource
from .errors import InputError, Problem, display_path
from .model import TEST_FILE_PREFIX, BuildSpec, CheckSpec, ConfigKey, KeyPath, Lines, Resource, scalar_text
from .schema import SchemaCache, check_schema, suggest
from .smoke.spec import DEFAULT_TESTS, load_checks
from .source import YamlDocument, dotted

NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:(?:\.|-+)[a-z0-9]+)*$")  # a valid Docker repository name part
RESERVED_NAMES = frozenset({"build", "test", "release", "validate", "config", "plan", "list", "clean",
                            "engine", "manifest", "resources",
                            "all", "help", "info", "run", "forget", "ignore", "auto", "dumpdb",
                            "strace", "tabcompletion", "reset-dep"})


def validate(raw: list[RawResource], root: Path, names: set[str] | None = None,
             cache: SchemaCache | None = None) -> dict[str, Resource]:
    """Schema and semantic checks for every resource; all problems reported at once."""
    problems: list[Problem] = []
    checked: list[tuple[RawResource, dict[str, Any]]] = []
    for item in raw:
        found = _check_name(item) + check_schema(item.document, "resource.schema.json", resource=item.name,
                                                 cache=cache)
        problems.extend(found)
        if not found:
            checked.append((item, item.document.data))
    names = (names or set()) | {item.name for item in raw}
    resources: dict[str, Resource] = {}
    for item, data in checked:
        resource = _to_resource(item, data)
        found = _semantic(resource, item.document, names, root)
        checks: tuple[CheckSpec, ...] = ()
        if (resource.tests is not None and resource.tests.is_file()) or any(
                resource.folder.glob(f"{TEST_FILE_PREFIX}*.py")):
            checks, tests_problems = load_checks(resource, root, cache)
            found += tests_problems
        problems.extend(found)
        resources[item.name] = replace(resource, checks=checks)
    if problems:
        raise InputError(problems)
    return resources


def _check_name(item: RawResource) -> list[Problem]:
    doc = item.document
    if not NAME_PATTERN.match(item.name):
        return [Problem(doc.display, f"the folder name '{item.name}' is not a valid resource name", line=1,
                        resource=item.name, hint="use lower-case letters and digits, separated by '-' or '.'")]
    if item.name in RESERVED_NAMES:
        return [Problem(doc.display, f"'{item.name}' is reserved for Calvin's own tasks", line=1,
                        resource=item.name, hint="rename the folder")]
    return []


def _to_resource(item: RawResource, data: dict[str, Any]) -> Resource:
    build = data.get("build") or {}
    tests_name = data.get("tests")
    default = item.folder / DEFAULT_TESTS
    tests: Path | None = item.folder / tests_name if tests_name else (default if default.is_file() else None)
    spec = BuildSpec(
        builder=build.get("builder", "docker"),
        dockerfile=build.get("dockerfile", "Dockerfile"),
        args={key: scalar_text(value) for key, value in (build.get("args") or {}).items()},
        command=tuple(build.get("command") or ()),
        image=build.get("image") or {},
    )
    config = tuple(ConfigKey(key, spec_["type"], spec_.get("description", ""))
                   for key, spec_ in sorted((data.get("config") or {}).items()))
    return Resource(name=item.name, folder=item.folder, source=item.document.path,
                    description=data["description"].strip(), group=data["group"], version=data["version"],
                    base=data.get("base"), build=spec, tests=tests, config=config,
                    display=item.document.display, lines=Lines(item.document.lines))



def _semantic(resource: Resource, doc: YamlDocument, names: set[str], root: Path) -> list[Problem]:
    problems: list[Problem] = []

    def problem(key_path: KeyPath, message: str, hint: str) -> None:
        problems.append(Problem(doc.display, message, line=doc.line_of(key_path), resource=resource.name,
                                key_path=dotted(key_path) or None, hint=hint))

    if resource.base is not None:
        if resource.base == resource.name:
            problem(("base",), "a resource cannot be its own base", "name the parent resource, or remove base")
        elif resource.base not in names:
            problem(("base",), f"unknown parent resource '{resource.base}'",
                    suggest(resource.base, names - {resource.name}) or "create it under resources/")
    spec = resource.build
    if spec.builder == "rootfs":
        if not spec.command:
            problem(("build",), "the rootfs builder needs build.command",
                    "give the command that writes the root file-system tarball to $CALVIN_ROOTFS")
        if resource.base is not None:
            problem(("base",), "a rootfs resource is a root: it cannot have a base",
                    "remove base, or use the docker builder")
        if "dockerfile" in (doc.data.get("build") or {}):
            problem(("build", "dockerfile"), "the rootfs builder takes no dockerfile", "remove it")
    else:
        for key in ("command", "image"):
            if key in (doc.data.get("build") or {}):
                problem(("build", key), f"build.{key} belongs to the rootfs builder",
                        "remove it, or set builder: rootfs")
        problems.extend(_check_dockerfile(resource, doc, names, root))
    if resource.tests is not None and not _inside(resource.tests, resource.folder):
        problem(("tests",), f"the tests file '{doc.data.get('tests')}' is outside the resource folder",
                "keep the smoke tests inside resources/<name>/")
    elif resource.tests is not None and not resource.tests.is_file():
        problem(("tests",), f"the tests file '{doc.data.get('tests')}' does not exist",
                "create it, or remove the tests key")
    problems.extend(_check_links(resource, root))
    return problems


def _check_dockerfile(resource: Resource, doc: YamlDocument, names: set[str], root: Path) -> list[Problem]:
    key_path: KeyPath = ("build", "dockerfile") if "dockerfile" in (doc.data.get("build") or {}) else ()
    path = resource.folder / resource.build.dockerfile
    if not _inside(path, resource.folder):
        return [Problem(doc.display, f"the Dockerfile '{resource.build.dockerfile}' is outside the resource folder",
                        line=doc.line_of(key_path), resource=resource.name, key_path=dotted(key_path) or None,
                        hint="keep every build input inside resources/<name>/")]
    if not path.is_file():
        return [Problem(doc.display, f"missing Dockerfile '{resource.build.dockerfile}'",
                        line=doc.line_of(key_path), resource=resource.name, key_path=dotted(key_path) or None,
                        hint=f"create {display_path(path, root)}, or set build.dockerfile")]
    return dockerfile.check(path, display_path(path, root), resource=resource.name, base=resource.base,
                            resource_names=names)


def _check_links(resource: Resource, root: Path) -> list[Problem]:
    problems: list[Problem] = []
    folder = resource.folder.resolve()
    for current, dirs, files in os.walk(resource.folder):
        for entry in dirs + files:
            if not os.path.islink(os.path.join(current, entry)):
                continue
            path = Path(current) / entry
            if not _inside(path, folder):
                loops = _loops(path)
                what = "link loops" if loops else "link leaves the resource folder"
                problems.append(Problem(display_path(path, root),
                                        f"{what} (points to {os.readlink(path)})",
                                        resource=resource.name,
                                        hint="copy the file into the folder instead of linking to it"))
    return problems


def _prefixes(folder: str, relative: str) -> list[str]:
    parts = [] if relative == "." else relative.split(os.sep)
    return [os.path.join(folder, *parts[: i + 1]) for i in range(len(parts))]


def _loops(path: Path) -> bool:
    try:
        path.resolve(strict=False)
    except RuntimeError:
        return True
    return False


def _inside(path: Path, folder: Path) -> bool:
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    if not relative.startswith("..") and not any(
            os.path.islink(p) for p in _prefixes(os.path.abspath(folder), relative)):
        return True  # no link on the way: the path stays where it is written
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, RuntimeError, OSError):  # outside, or a link loop
        return False
    return True
