"""JSON Schema checks of Calvin's YAML files, every error collected and rewritten for people:
`file:line · key.path: message — hint`, with "did you mean" for typos."""
from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Iterable

from .errors import Problem
from .files import write_atomic
from .model import KeyPath
from .source import YamlDocument, dotted

_YAML_TYPES = {dict: "a mapping", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true or false", type(None): "nothing (null)"}
_SCHEMA_TYPES = {"object": "a mapping", "array": "a list", "string": "a string",
                 "integer": "an integer", "number": "a number", "boolean": "true or false"}
SCHEMAS = Path(__file__).resolve().parent / "schema"  # beside this file: Calvin is never run zipped


@cache
def _schema_text(schema_name: str) -> str:
    return (SCHEMAS / schema_name).read_text(encoding="utf-8")


@cache
def _validator(schema_name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(_schema_text(schema_name)))


class SchemaCache:
    """Digests of (schema, document) pairs that passed, kept between runs: a no-op run does not
    even load jsonschema. A document or schema that changes has a new digest and is checked."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.added: set[str] = set()
        try:
            self.known = set(path.read_text().split()) if path is not None else set()
        except OSError:
            self.known = set()

    def key(self, schema_name: str, data: Any) -> str | None:
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


def check_schema(document: YamlDocument, schema_name: str, *, resource: str | None = None,
                 cache: SchemaCache | None = None) -> list[Problem]:
    """Every schema violation in the document, rewritten for people. With a cache, a document
    that passed before is not checked again."""
    if document.data is None:
        return [Problem(document.display, "the file is empty", line=1, resource=resource,
                        hint="see the example in the README")]
    key = cache.key(schema_name, document.data) if cache is not None else None
    if cache is not None and key is not None and key in cache.known:
        return []
    problems: list[Problem] = []
    for error in _validator(schema_name).iter_errors(document.data):
        problems.extend(_explain(error, document, resource))
    if cache is not None and not problems and key is not None:
        cache.added.add(key)
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
            yield problem(f"unknown key '{key}'", path + (key,), suggest(str(key), allowed))
    elif kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        for key in missing or ["?"]:
            yield problem(f"missing required key '{key}'", path, hint or f"add '{key}:'")
    elif kind == "enum":
        options = [str(option) for option in error.validator_value]
        suggestion = _close(str(error.instance), options) if isinstance(error.instance, str) else None
        given = "no value" if error.instance is None else f"'{error.instance}'"
        yield problem(f"{given} is not one of: {', '.join(options)}", hint=suggestion or hint)
    elif kind == "const":
        given = "no value" if error.instance is None else f"'{error.instance}'"
        yield problem(f"must be '{error.validator_value}' here, found {given}")
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


def suggest(word: str, options: Iterable[str]) -> str | None:
    """"did you mean …?" for a close match, else the allowed words."""
    options = list(options)
    return _close(word, options) or (f"allowed: {', '.join(sorted(options))}" if options else None)


def _close(word: str, options: Iterable[str]) -> str | None:
    import difflib  # only a mistake needs it: a run over good input does not load it

    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None
