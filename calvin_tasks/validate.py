"""Judge the raw input: JSON Schema first, then what a schema cannot say."""
from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from . import dockerfile
from .discover import RawResource
from .errors import InputError, Problem, display_path
from .exposure import check_service_ports
from .model import (TEST_FILE_PREFIX, VM_BUILDERS, BuildSpec, CheckSpec, ConfigKey, KeyPath, Lines, Resource, Runtime,
                    scalar_text)
from .schema import SchemaCache, check_schema, suggest
from .smoke.spec import DEFAULT_TESTS, NO_TESTS, load_checks
from .vm.rules import check_kinds, check_vm, check_vm_bases
from .source import YamlDocument, dotted

NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:(?:\.|-+)[a-z0-9]+)*$")  # a valid Docker repository name part
RESERVED_NAMES = frozenset({"build", "test", "release", "validate", "config", "plan", "list", "clean",
                            "engine", "manifest", "resources", "bump", "why", "graph", "gc",
                            "pin", "promote", "up", "status", "down", "secrets", "history",
                            "all", "help", "info", "run", "forget", "ignore", "auto", "dumpdb",
                            "strace", "tabcompletion", "reset-dep", "refresh", "diff", "verify"})


def validate(raw: list[RawResource], root: Path, names: set[str] | None = None,
             cache: SchemaCache | None = None) -> dict[str, Resource]:
    """Schema and semantic checks for every resource; all problems reported at once."""
    resources, problems = check_resources(raw, root, names, cache)
    if problems:
        raise InputError(problems)
    return resources


def check_resources(raw: list[RawResource], root: Path, names: set[str] | None = None,
                    cache: SchemaCache | None = None) -> tuple[dict[str, Resource], list[Problem]]:
    """Every resource that passes its schema, and every problem found (each naming its resource)."""
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
        tests_inside = resource.tests is None or _inside(resource.tests, resource.folder)
        if tests_inside and ((resource.tests is not None and resource.tests.is_file()) or any(
                resource.folder.glob(f"{TEST_FILE_PREFIX}*.py"))):  # a file outside the folder is never read
            checks, tests_problems = load_checks(resource, root, cache)
            found += tests_problems
        found += _check_health(resource, checks)
        if resource.build.builder in VM_BUILDERS:
            found += check_vm(replace(resource, checks=checks), item.document)
        else:
            found += check_kinds(replace(resource, checks=checks), item.document)
        problems.extend(found)
        resources[item.name] = replace(resource, checks=checks)
    problems.extend(check_service_ports(resources, root))
    problems.extend(check_vm_bases(resources, lambda r: r.display or str(r.source)))
    return resources, problems


def _check_health(resource: Resource, checks: tuple[CheckSpec, ...]) -> list[Problem]:
    """runtime.health names one of the resource's own service checks: the deploy reuses it."""
    health = resource.runtime.health
    services = [check.name for check in checks if check.kind == "service"]
    if health is None or health in services:
        return []
    return [Problem(resource.display, f"runtime.health names no service check: '{health}'",
                    line=resource.line_of("runtime", "health"), resource=resource.name, key_path="runtime.health",
                    hint=suggest(health, services) if services else "add a services: check to its tests.yaml")]


def untested_warning(resources: Mapping[str, Resource]) -> str | None:
    """One warning naming every resource that declares no smoke test (and did not say `tests: none`):
    its image would be released with nothing checked."""
    untested = [r for _, r in sorted(resources.items()) if not r.checks and not r.untested_ok]
    if not untested:
        return None
    shown = 10  # a large project names the first few: one console line, not five hundred names
    listed = ", ".join(f"{r.name} ({r.display or r.source})" for r in untested[:shown])
    if len(untested) > shown:
        listed += f" and {len(untested) - shown} more"
    return (f"warning: {len(untested)} resource(s) declare no smoke tests; their images are released untested: "
            f"{listed} — add resources/<name>/{DEFAULT_TESTS}, or set `tests: {NO_TESTS}` in resource.yaml "
            "to release untested on purpose")


def valid_name(name: str) -> bool:
    """Whether a folder name can name a resource (and its tasks)."""
    return bool(NAME_PATTERN.match(name)) and name not in RESERVED_NAMES


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
    untested_ok = tests_name == NO_TESTS
    tests_name = None if untested_ok else tests_name
    default = item.folder / DEFAULT_TESTS
    tests: Path | None = item.folder / tests_name if tests_name else (default if default.is_file() else None)
    spec = BuildSpec(
        builder=build.get("builder", "docker"),
        dockerfile=build.get("dockerfile", "Dockerfile"),
        args={key: scalar_text(value) for key, value in (build.get("args") or {}).items()},
        command=tuple(build.get("command") or ()),
        image=build.get("image") or {},
        size=build.get("size", ""),
        template=build.get("template", "template.json"),
        variables={key: scalar_text(value) for key, value in (build.get("variables") or {}).items()},
    )
    config = tuple(ConfigKey(key, spec_["type"], spec_.get("description", ""), tuple(spec_.get("schemes") or ()))
                   for key, spec_ in sorted((data.get("config") or {}).items()))
    runtime = data.get("runtime") or {}
    run = Runtime(ports=tuple(runtime.get("ports") or ()), volumes=dict(runtime.get("volumes") or {}),
                  health=runtime.get("health"))
    return Resource(name=item.name, folder=item.folder, source=item.document.path, runtime=run,
                    description=data["description"].strip(), group=data["group"], version=data["version"],
                    base=data.get("base"), build=spec, tests=None if untested_ok else tests, config=config,
                    untested_ok=untested_ok, display=item.document.display, lines=Lines(item.document.lines))



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
    elif spec.builder not in VM_BUILDERS:  # VM builders: vm/rules.py, once tests.yaml is loaded
        for key in ("command", "image"):
            if key in (doc.data.get("build") or {}):
                problem(("build", key), f"build.{key} belongs to the rootfs builder",
                        "remove it, or set builder: rootfs")
        problems.extend(_check_dockerfile(resource, doc, names, root))
    if resource.tests is not None and not _inside(resource.tests, resource.folder):
        problem(("tests",), f"the tests file '{doc.data.get('tests') or resource.tests.name}' is outside the "
                "resource folder",
                "keep the smoke tests inside resources/<name>/")
    elif resource.tests is not None and not resource.tests.is_file():
        problem(("tests",), f"the tests file '{doc.data.get('tests') or resource.tests.name}' does not exist",
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
    """Every link in the folder that leaves it, or loops (the listing says what is a link: no stat each)."""
    problems: list[Problem] = []
    pending = [str(resource.folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                found = sorted(listing, key=lambda e: e.name)
        except OSError:  # unreadable: the build reports it
            continue
        for item in found:
            if not item.is_symlink():
                if item.is_dir(follow_symlinks=False):
                    pending.append(item.path)
                continue
            path = Path(item.path)
            if not _inside(path, resource.folder.resolve()):
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
    if path.parent == folder and path.name not in ("", ".", "..") and not os.path.islink(path):
        return True  # a plain entry of the folder itself (most Dockerfiles): nothing to resolve
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    if not relative.startswith("..") and not any(
            os.path.islink(p) for p in _prefixes(os.path.abspath(folder), relative)):
        return True  # no link on the way: the path stays where it is written
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, RuntimeError, OSError):  # outside, or a link loop
        return False
    return True
