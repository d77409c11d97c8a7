"""Global configuration: every environment provides every key the resources read, typed right.

configs/environments/<env>.yaml holds an environment's values; resources declare the
keys they read at start (resource.yaml `config:`). Secrets are references
(`{secret: NAME}`), never values; a file value (`{file: PATH}`, type `file`) is a file in the
repository, its path relative to the environment file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError, Problem, display_path
from .assembly import placements
from .model import ConfigKey, Lines, Placement, Resource, scalar_text
from .schema import SchemaCache, check_schema, suggest
from .source import load_yaml

ENVIRONMENTS = Path("configs") / "environments"
FILES_IN_CONTAINER = "/run/configs"  # where a service finds its file values, one file per key
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s/]+")


@dataclass(frozen=True)
class Environment:
    name: str
    source: Path
    values: Mapping[str, Any]
    deploy: str = "compose"
    services: Mapping[str, Placement] = field(default_factory=dict)
    display: str = ""
    lines: Lines = field(default_factory=Lines, compare=False, repr=False)
    files: Mapping[str, Path] = field(default_factory=dict)  # a file value's key → the file (absolute)


def reference(value: Any) -> str | None:
    """"secret" for `{secret: NAME}`, "file" for `{file: PATH}`, None for a plain value."""
    return next(iter(value), None) if isinstance(value, dict) else None


def _type_problem(key: ConfigKey, value: Any) -> str | None:
    kind = reference(value)
    if key.type == "secret":
        if kind != "secret":
            return "a secret value is inlined: give a reference, {secret: NAME}, and keep the value in your secret store"
        return None
    if key.type == "file":
        return None if kind == "file" else (
            "expected a file in the repository, {file: PATH} relative to this environment file, found "
            + (f"{_a(kind)} reference" if kind else _a(_KINDS.get(type(value), type(value).__name__))))
    if kind:
        return f"{_a(kind)} reference where {_a(key.type)} belongs"
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "url": lambda v: isinstance(v, str) and bool(_URL.match(v)),
        "list": lambda v: isinstance(v, list),
    }
    if not checks[key.type](value):
        # the value is not shown: a secret pasted under the wrong key must not reach a log
        found = f"{_a(_KINDS.get(type(value), type(value).__name__))}" + (
            " without a scheme such as http://" if key.type == "url" and isinstance(value, str) else "")
        return f"expected {'a URL such as http://host:port' if key.type == 'url' else _a(key.type)}, found {found}"
    scheme = value.split("://", 1)[0].lower() if key.type == "url" else ""
    if key.schemes and scheme not in key.schemes:
        return (f"expected a URL with scheme {' or '.join(key.schemes)} (the image refuses others), "
                f"found one with scheme {scheme!r}")
    return None


_KINDS = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "mapping"}


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def declared_keys(resources: Mapping[str, Resource]) -> tuple[dict[str, tuple[ConfigKey, list[str]]],
                                                              list[Problem]]:
    """Every key some resource reads: its type and its readers; conflicting types are problems."""
    keys: dict[str, tuple[ConfigKey, list[str]]] = {}
    problems: list[Problem] = []
    for name in sorted(resources):
        for key in resources[name].config:
            if key.name not in keys:
                keys[key.name] = (key, [name])
                continue
            first, readers = keys[key.name]
            if first.type != key.type:
                resource = resources[name]
                problems.append(Problem(resource.display, f"key '{key.name}' is declared as {key.type} "
                                        f"here and as {first.type} by '{readers[0]}'",
                                        line=resource.line_of("config", key.name), resource=name,
                                        key_path=f"config.{key.name}", hint="use one type for a key everywhere"))
            elif key.schemes and set(first.schemes) != set(key.schemes):  # a value every reader accepts
                both = tuple(s for s in first.schemes if s in key.schemes) if first.schemes else key.schemes
                if not both:
                    resource = resources[name]
                    problems.append(Problem(resource.display, f"key '{key.name}' accepts schemes "
                                            f"{', '.join(key.schemes)} here and {', '.join(first.schemes)} by "
                                            f"'{readers[0]}': no URL suits both", line=resource.line_of(
                                                "config", key.name, "schemes"), resource=name,
                                            key_path=f"config.{key.name}.schemes", hint="read two keys"))
                keys[key.name] = (replace(first, schemes=both or first.schemes), readers)
            readers.append(name)
    return keys, problems


def load_environments(root: Path, resources: Mapping[str, Resource],
                      cache: SchemaCache | None = None) -> list[Environment]:
    """Read and check every environment; raises InputError with every gap at once."""
    keys, problems = declared_keys(resources)
    folder = root / ENVIRONMENTS
    environments: list[Environment] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        display = display_path(path, root)
        try:
            document = load_yaml(path, display)
        except InputError as err:
            problems.extend(err.problems)
            continue
        found = check_schema(document, "environment.schema.json", cache=cache)
        if found:
            problems.extend(found)
            continue
        values: dict[str, Any] = document.data.get("values") or {}
        env_name = path.stem
        files: dict[str, Path] = {}
        for key_name in sorted(keys):
            key, readers = keys[key_name]
            if key_name not in values:
                problems.append(Problem(display, f"missing key '{key_name}' ({key.type}), read by "
                                        f"{', '.join(readers)}", line=document.line_of(("values",)),
                                        key_path="values", hint=f"add '{key_name}:' for environment '{env_name}'"))
                continue
            wrong = _type_problem(key, values[key_name])
            if wrong:
                problems.append(Problem(display, wrong, line=document.line_of(("values", key_name)),
                                        key_path=f"values.{key_name}", resource=readers[0]))
            elif key.type == "file":
                found_file, wrong = _file_value(root, path, values[key_name]["file"])
                if wrong:
                    problems.append(Problem(display, wrong, line=document.line_of(("values", key_name, "file")),
                                            key_path=f"values.{key_name}.file", resource=readers[0],
                                            hint="put the file in the repository, next to the environment file "
                                            "(e.g. configs/environments/files/), and name it relative to it"))
                else:
                    files[key_name] = found_file
        for key_name in sorted(set(values) - set(keys)):
            problems.append(Problem(display, f"unknown key '{key_name}': no resource reads it",
                                    line=document.line_of(("values", key_name)), key_path=f"values.{key_name}",
                                    hint=suggest(key_name, keys) or "remove it, or declare it under config: "
                                    "in the resource.yaml that reads it"))
        services, found = placements(document, resources)
        problems.extend(found)
        environments.append(Environment(env_name, path, values, document.data.get("deploy") or "compose", services,
                                        display, Lines(document.lines), files))
    if problems:
        raise InputError(problems)
    if keys and not environments:
        raise InputError([Problem(display_path(folder, root), "no environment configuration, but resources read "
                                  f"{len(keys)} keys", hint="add configs/environments/<env>.yaml")])
    return environments


def _file_value(root: Path, environment_file: Path, relative: str) -> tuple[Path, str | None]:
    """(the file a `{file: PATH}` value names, why it cannot be used or None): a regular file
    inside the repository, its path relative to the environment file."""
    found = (environment_file.parent / relative).resolve()
    if not found.is_relative_to(root.resolve()):
        return found, f"file '{relative}' is outside the repository: a file value must be a file of the repository"
    if not found.is_file():
        shown = display_path(found, root)
        return found, f"file '{relative}' does not exist ({shown} is {'a folder' if found.is_dir() else 'missing'})"
    return found, None


def runtime_environment(environment: Environment, resource: Resource,
                        secrets_dir: str = "/run/secrets", files_dir: str = FILES_IN_CONTAINER) -> dict[str, str]:
    """The variables a deployer passes to `resource` in `environment`: CALVIN_<KEY>, or
    CALVIN_<KEY>_FILE pointing at the mounted secret or file value."""
    variables: dict[str, str] = {}
    for key in resource.config:
        value = environment.values[key.name]
        name = f"CALVIN_{key.name.upper()}"
        if reference(value) == "secret":
            variables[f"{name}_FILE"] = f"{secrets_dir}/{value['secret']}"
        elif reference(value) == "file":
            variables[f"{name}_FILE"] = f"{files_dir}/{key.name}"
        elif isinstance(value, list):
            variables[name] = ",".join(str(item) for item in value)
        else:
            variables[name] = scalar_text(value)
    return variables
