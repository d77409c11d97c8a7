"""Read just enough of a Dockerfile to check where its images come from."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import Problem

BASE_ARG = "BASE_IMAGE"
_BASE_REFS = {"${BASE_IMAGE}", "$BASE_IMAGE"}
_ESCAPE_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str


def parse(text: str) -> list[Instruction]:
    """Instructions with their first line; continuations joined, comments dropped."""
    escape = "\\"
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    directives = True
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if directives:
            match = _ESCAPE_DIRECTIVE.match(stripped)
            if match:
                escape = match.group(1)
                continue
            if not stripped.startswith("#") or stripped == "#":
                directives = False
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith(escape):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        words = " ".join(part for part in pending if part).split(None, 1)
        pending = []
        if words:
            instructions.append(Instruction(start, words[0].upper(), words[1] if len(words) > 1 else ""))
    if pending:
        words = " ".join(pending).split(None, 1)
        if words:
            instructions.append(Instruction(start, words[0].upper(), words[1] if len(words) > 1 else ""))
    return instructions


def check(path: Path, display: str, *, resource: str, base: str | None,
          resource_names: set[str]) -> list[Problem]:
    """Problems with where this Dockerfile's images come from (SPEC §2)."""
    try:
        instructions = parse(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return [Problem(display, "the Dockerfile is not UTF-8 text", resource=resource)]
    problems: list[Problem] = []

    def problem(line: int, message: str, hint: str) -> None:
        problems.append(Problem(display, message, line=line, resource=resource, hint=hint))

    froms = [ins for ins in instructions if ins.keyword == "FROM"]
    if not froms:
        problem(1, "no FROM instruction", "start from scratch, or set base and use FROM ${BASE_IMAGE}")
        return problems
    declared = any(ins.keyword == "ARG" and _arg_name(ins.arguments) == BASE_ARG
                   for ins in instructions if ins.line < froms[0].line)
    stages: set[str] = set()
    uses_base = False
    for ins in instructions:
        if ins.keyword == "FROM":
            image, alias = _from_parts(ins.arguments)
            if image in _BASE_REFS:
                uses_base = True
                if base is None:
                    problem(ins.line, "FROM ${BASE_IMAGE} but resource.yaml sets no base",
                            "set base: <parent resource> in resource.yaml")
                elif not declared:
                    problem(ins.line, "FROM ${BASE_IMAGE} without 'ARG BASE_IMAGE' before it",
                            "add 'ARG BASE_IMAGE' as the first line")
            elif image.lower() != "scratch" and image.lower() not in stages:
                _outside(image, ins.line, base, resource_names, problem)
            if alias:
                stages.add(alias.lower())
        elif ins.keyword in ("COPY", "ADD", "RUN"):
            for source in re.findall(r"--from=(\S+)", ins.arguments):
                if source.lower() not in stages and not source.isdigit():
                    _outside(source, ins.line, base, resource_names, problem)
    if base is not None and not uses_base:
        problem(froms[0].line, "the Dockerfile ignores BASE_IMAGE although base is set",
                f"start it with 'ARG BASE_IMAGE' and 'FROM ${{BASE_IMAGE}}' to build on '{base}'")
    return problems


def resource_named(image: str, resource_names: set[str]) -> str | None:
    """The resource whose image `image` names, if it names one: a bare name without a tag
    (`FROM debian`), or `<namespace>/<name>` with any tag, also behind a registry
    (`calvin/debian:1.0.0`, `127.0.0.1:5000/calvin/debian`). `debian:bookworm`, `library/debian`
    and `docker.io/library/debian:12` are outside images, whatever the resources are called."""
    reference = image.split("@", 1)[0]
    parts = reference.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    last, tagged = parts[-1].partition(":")[0], ":" in parts[-1] or "@" in image
    if len(parts) == 1:
        return last if last in resource_names and not tagged and reference == image else None
    if len(parts) == 2 and parts[0] != "library" and last in resource_names:
        return last
    return None


def _outside(image: str, line: int, base: str | None, resource_names: set[str], problem) -> None:  # type: ignore[no-untyped-def]
    name = resource_named(image, resource_names)
    if name is not None:
        if base == name:
            problem(line, f"uses the image '{image}' by name instead of the exact parent image",
                    "use FROM ${BASE_IMAGE}; Calvin passes the parent's exact image")
        else:
            problem(line, f"builds on resource '{name}' by image name without base",
                    f"set base: {name} in resource.yaml and use FROM ${{BASE_IMAGE}}")
    else:
        problem(line, f"uses an outside image '{image}'",
                "Calvin builds from scratch, a rootfs resource or a parent resource: make it a resource and set base")


def _arg_name(arguments: str) -> str:
    return arguments.split("=", 1)[0].strip()


def _from_parts(arguments: str) -> tuple[str, str | None]:
    words = [w for w in arguments.split() if not w.startswith("--")]
    image = words[0] if words else ""
    alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    return image, alias


BASE_REFS = frozenset(_BASE_REFS)  # FROM ${BASE_IMAGE} as written
from_parts = _from_parts  # (image, stage alias) of a FROM line
