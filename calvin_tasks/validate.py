"""Judge the raw input: JSON Schema first, then what a schema cannot say."""
from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import replace
from functools import cache
from importlib import resources as package_files
from pathlib import Path
from typing import Any, Iterable

from . import dockerfile
from .discover import RawResource
from .errors import InputError, Problem, display_path
from .files import write_atomic
from .model import TEST_FILE_PREFIX, BuildSpec, CheckSpec, ConfigKey, Resource, scalar_text
from .source import KeyPath, YamlDocument, dotted, load_yaml

NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:(?:\.|-+)[a-z0-9]+)*$")  # a valid Docker repository name part
RESERVED_NAMES = frozenset({"build", "test", "release", "validate", "config", "plan", "list", "clean",
                            "engine", "manifest", "resources",
                            "all", "help", "info", "run", "forget", "ignore", "auto", "dumpdb",
                            "strace", "tabcompletion", "reset-dep"})
DEFAULT_TESTS = "tests.yaml"
_YAML_TYPES = {dict: "a mapping", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true or false", type(None): "nothing (null)"}
_SCHEMA_TYPES = {"object": "a mapping", "array": "a list", "string": "a string",
                 "integer": "an integer", "number": "a number", "boolean": "true or false"}


@cache
def _schema_text(schema_name: str) -> str:
    return package_files.files("calvin_tasks").joinpath("schema", schema_name).read_text(encoding="utf-8")


@cache
def _validator(schema_name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(_schema_text(schema_name)))


class SchemaCache:
    """Digests of (schema, document) pairs that passed, kept between runs: a no-op run does not
    even load jsonschema. A document or schema that changes has a new digest and is checked."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.known: set[str] = set()
        self.added: set[str] = set()

    def open(self, path: Path) -> None:
        self.path, self.added = path, set()
        try:
            self.known = set(path.read_text().split())
        except OSError:
            self.known = set()

    def key(self, schema_name: str, data: Any) -> str | None:
        import hashlib

        try:
            text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return None  # YAML dates and the like: always checked
        return hashlib.sha256(f"{_schema_text(schema_name)}\0{text}".encode()).hexdigest()

    def save(self) -> None:
        if self.path is None or not self.added:
            return
        try:
            write_atomic(self.path, "\n".join(sorted(self.known | self.added)) + "\n")
        except OSError:
            pass  # a cache: without it the next run checks again


schema_cache = SchemaCache()


def check_schema(document: YamlDocument, schema_name: str, *, resource: str | None = None) -> list[Problem]:
    """Every schema violation in the document, rewritten for people."""
    if document.data is None:
        return [Problem(document.display, "the file is empty", line=1, resource=resource,
                        hint="see the example in the README")]
    key = schema_cache.key(schema_name, document.data)
    if key is not None and key in schema_cache.known:
        return []
    problems: list[Problem] = []
    for error in _validator(schema_name).iter_errors(document.data):
        problems.extend(_explain(error, document, resource))
    if not problems and key is not None:
        schema_cache.added.add(key)
    return problems


def _explain(error: Any, document: YamlDocument, resource: str | None) -> Iterable[Problem]:
    path: KeyPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    hint = schema.get("x-hint")

    def problem(message: str, key_path: KeyPath = path, hint: str | None = hint) -> Problem:
        return Problem(document.display, message, line=document.line_of(key_path), resource=resource,
                       key_path=dotted(key_path) or None, hint=hint)

    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(allowed), key=str):
            yield problem(f"unknown key '{key}'", path + (key,), _suggest(str(key), allowed))
    elif kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        for key in missing or ["?"]:
            yield problem(f"missing required key '{key}'", path, hint or f"add '{key}:'")
    elif kind == "enum":
        options = [str(option) for option in error.validator_value]
        suggestion = _suggest(str(error.instance), options) if isinstance(error.instance, str) else None
        given = "no value" if error.instance is None else f"'{error.instance}'"
        yield problem(f"{given} is not one of: {', '.join(options)}", hint=suggestion or hint)
    elif kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_SCHEMA_TYPES.get(str(w), str(w)) for w in wanted)
        got = _YAML_TYPES.get(type(error.instance), type(error.instance).__name__)
        yield problem(f"expected {words}, found {got}")
    elif kind == "pattern":
        yield problem(f"'{error.instance}' is not valid here", hint=hint or f"it must match {error.validator_value}")
    elif kind == "propertyNames":
        bad = error.instance if isinstance(error.instance, str) else str(error.instance)
        yield problem(f"'{bad}' is not a valid key name here", path + (bad,) if isinstance(bad, str) else path,
                      hint or "use lower-case letters, digits and '_'")
    elif kind in ("minLength", "minItems", "minProperties"):
        yield problem("must not be empty")
    elif kind in ("oneOf", "anyOf") and error.context:
        from jsonschema.exceptions import best_match

        # the branch whose type fits the value says what is wrong with it
        fitting = [e for e in error.context if e.validator != "type"] or list(error.context)
        yield from _explain(best_match(fitting), document, resource)
    else:
        yield problem(error.message)


def _suggest(word: str, options: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if match:
        return f"did you mean '{match[0]}'?"
    listed = sorted(options)
    return f"allowed: {', '.join(listed)}" if listed else None


def validate(raw: list[RawResource], root: Path, names: set[str] | None = None) -> dict[str, Resource]:
    """Schema and semantic checks for every resource; all problems reported at once."""
    problems: list[Problem] = []
    checked: list[tuple[RawResource, dict[str, Any]]] = []
    for item in raw:
        found = _check_name(item) + check_schema(item.document, "resource.schema.json", resource=item.name)
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
            checks, tests_problems = load_checks(resource, root)
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
                    base=data.get("base"), build=spec, tests=tests, config=config)



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
                    _suggest(resource.base, names - {resource.name}) or "create it under resources/")
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


_REGEX_KEYS = ("stdout", "stderr", "stdout_excludes", "stderr_excludes", "contains", "excludes", "body",
               "body_excludes")


def load_checks(resource: Resource, root: Path) -> tuple[tuple[CheckSpec, ...], list[Problem]]:
    """The smoke checks of a resource's tests file (and its test_*.py files), or its problems."""
    if resource.tests is None:
        document = YamlDocument(resource.folder / DEFAULT_TESTS, DEFAULT_TESTS, {})
    else:
        try:
            document = load_yaml(resource.tests, display_path(resource.tests, root), resource=resource.name)
        except InputError as err:
            return (), list(err.problems)
    display = document.display
    if document.data is None:
        document = YamlDocument(document.path, display, {}, document.lines)
    problems = check_schema(document, "tests.schema.json", resource=resource.name)
    if problems:
        return (), problems
    data: dict[str, Any] = document.data
    checks: list[CheckSpec] = []
    for index, spec in enumerate(data.get("commands") or []):
        checks.append(CheckSpec("command", spec["name"], spec, document.line_of(("commands", index))))
    for index, spec in enumerate(data.get("files") or []):
        checks.append(CheckSpec("file", spec.get("name") or f"file {spec['path']}", spec,
                                document.line_of(("files", index))))
    for key, value in (data.get("metadata") or {}).items():
        checks.append(CheckSpec("metadata", f"metadata {key}", {"key": key, "expected": value},
                                document.line_of(("metadata", key))))
    for index, spec in enumerate(data.get("services") or []):
        checks.append(CheckSpec("service", spec["name"], spec, document.line_of(("services", index))))
    seen: dict[str, int] = {}
    for check in checks:
        if check.name in seen:
            problems.append(Problem(display, f"two checks are named '{check.name}' (also line {seen[check.name]})",
                                    line=check.line, resource=resource.name, hint="give each check its own name"))
        seen.setdefault(check.name, check.line)
    for path, pattern in _regexes(data, ()):
        try:
            re.compile(pattern)
        except re.error as err:
            problems.append(Problem(display, f"invalid regular expression {pattern!r}: {err}",
                                    line=document.line_of(path), resource=resource.name, key_path=dotted(path),
                                    hint="fix the pattern (Python regex syntax); escape literal brackets"))
    python_tests = sorted(p.name for p in resource.folder.glob(f"{TEST_FILE_PREFIX}*.py"))
    if python_tests:
        checks.append(CheckSpec("pytest", "pytest " + " ".join(python_tests), {"files": python_tests}, 0))
    return tuple(checks), problems


def _regexes(value: Any, path: KeyPath) -> Iterable[tuple[KeyPath, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("env", "labels"):
                continue  # values there are data, whatever their key is called
            if key in _REGEX_KEYS and isinstance(item, str):
                yield path + (key,), item
            else:
                yield from _regexes(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _regexes(item, path + (index,))
