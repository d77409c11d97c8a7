"""tests.yaml → smoke checks: loaded and judged beside the check kinds that run them."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError, Problem, display_path
from ..model import TEST_FILE_PREFIX, CheckSpec, KeyPath, Resource
from ..schema import SchemaCache, check_schema
from ..source import YamlDocument, dotted, load_yaml

DEFAULT_TESTS = "tests.yaml"
NO_TESTS = "none"  # `tests: none`: no smoke tests, on purpose

_REGEX_KEYS = ("stdout", "stderr", "stdout_excludes", "stderr_excludes", "contains", "excludes", "body",
               "body_excludes")


def load_checks(resource: Resource, root: Path,
                cache: SchemaCache | None = None) -> tuple[tuple[CheckSpec, ...], list[Problem]]:
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
    problems = check_schema(document, "tests.schema.json", resource=resource.name, cache=cache)
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
