"""YAML files read once, remembering the line of every key and item."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Problem
from .model import KeyPath, Lines

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its data and where each key path starts."""

    path: Path
    display: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key_path: KeyPath) -> int:
        """The line of key_path, or of its nearest ancestor that has one."""
        return Lines(self.lines).of(key_path)


def load_yaml(path: Path, display: str, *, resource: str | None = None) -> YamlDocument:
    """Parse one YAML file; a syntax error or a duplicate key is an InputError."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError([Problem(display, f"not UTF-8 text ({err.reason})", resource=resource)]) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(path, display, None, {(): 1})
        lines: dict[KeyPath, int] = {}
        duplicates: list[Problem] = []
        _walk(node, (), lines, duplicates, display, resource)
        if duplicates:
            raise InputError(duplicates)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = err.problem or err.context or "invalid YAML"
        rows = text.splitlines()
        if mark is not None and mark.line < len(rows) and "\t" in rows[mark.line][:mark.column + 1]:
            reason += " (a tab: YAML indents with spaces only)"
        opened = err.context_mark
        if opened is not None and err.context and err.context.startswith("while parsing a flow") and (
                line is None or opened.line + 1 != line):
            # an unclosed bracket: the parser stops where it gives up; the user needs where it opened
            reason += f" — the bracket opened at line {opened.line + 1} is not closed"
            line = opened.line + 1
        raise InputError([Problem(display, f"YAML syntax error: {reason}", line=line, resource=resource,
                                  hint="fix the YAML syntax")]) from None
    except yaml.YAMLError as err:
        raise InputError([Problem(display, f"YAML error: {err}", resource=resource)]) from None
    finally:
        loader.dispose()
    return YamlDocument(path, display, data, lines)


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], duplicates: list[Problem],
          display: str, resource: str | None) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                duplicates.append(Problem(display, f"duplicate key '{key}' (first at line {seen[key]})",
                                          line=line, resource=resource, key_path=dotted(path + (key,)),
                                          hint="keep one of them"))
                continue
            seen[key] = line
            lines[path + (key,)] = line
            _walk(value_node, path + (key,), lines, duplicates, display, resource)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), lines, duplicates, display, resource)


def dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text

