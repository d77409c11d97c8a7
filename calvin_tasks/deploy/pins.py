"""Pins: what an environment runs, by digest, in a file of the repository that only Calvin writes.

`doit pin <env>` takes the current releases; `doit promote <from> <to>` takes exactly what runs in
<from>, by digest. Going back is restoring an earlier pins file (git) and `doit up:<env>`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..environments import Environment
from ..errors import CalvinError, display_path
from ..files import write_atomic
from ..model import TIMESTAMP, Project
from ..plan import release_status
from ..store import ReleaseStore, shelf

PINS = Path("configs") / "pins"
HEADER = ("# Written by Calvin (`doit pin {env}`, `doit promote … {env}`): what environment {env} runs, by digest.\n"
          "# Do not edit: to go back, restore an earlier version of this file and run `doit up:{env}`.\n")


@dataclass(frozen=True)
class Pin:
    resource: str
    version: str
    digest: str       # the registry's manifest digest, or the image id in the local engine
    fingerprint: str
    image: str        # what the deploy runs: <registry>/<ns>/<name>@<digest>, or the image id


def path(root: Path, environment: str) -> Path:
    return root / PINS / f"{environment}.yaml"


def read(root: Path, environment: str) -> dict[str, Pin]:
    """The pins of an environment; an environment never pinned is an error naming the command."""
    file = path(root, environment)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise CalvinError(f"{display_path(file, root)} does not exist: environment '{environment}' is not "
                          f"pinned — run `doit pin {environment}`") from None
    except yaml.YAMLError as err:
        raise CalvinError(f"{display_path(file, root)} is not valid YAML ({err}): restore it from git, "
                          f"or run `doit pin {environment}`") from None
    pins = {}
    for name, entry in (data.get("resources") or {}).items():
        try:
            pins[name] = Pin(name, str(entry["version"]), str(entry["digest"]), str(entry["fingerprint"]),
                             str(entry["image"]))
        except (KeyError, TypeError):
            raise CalvinError(f"{display_path(file, root)}: the pin of '{name}' is incomplete — restore the "
                              f"file from git, or run `doit pin {environment}`") from None
    return pins


def write(root: Path, environment: str, pins: Mapping[str, Pin], registry: str | None,
          extra: Mapping[str, Any] | None = None) -> Path:
    file = path(root, environment)
    document = {
        "environment": environment,
        "registry": registry,
        "pinned": datetime.now(timezone.utc).strftime(TIMESTAMP),
        **(extra or {}),
        "resources": {name: {"version": pin.version, "digest": pin.digest, "fingerprint": pin.fingerprint,
                             "image": pin.image} for name, pin in sorted(pins.items())},
    }
    write_atomic(file, HEADER.format(env=environment) + yaml.safe_dump(document, sort_keys=False))
    return file


def image_reference(project: Project, name: str, digest: str) -> str:
    registry = project.settings.registry
    if registry:
        return f"{registry}/{project.resources[name].repository(project.settings.namespace)}@{digest}"
    return digest


def current(project: Project, store: ReleaseStore, environment: Environment) -> dict[str, Pin]:
    """The current release of every resource the environment runs; refused when one is not released
    and tested (run `doit` first) — an environment never runs an untested image."""
    pins: dict[str, Pin] = {}
    problems = []
    for name in environment.services:
        resource, fingerprints = project.resources[name], project.fingerprints[name]
        found = shelf(project, store, name, fresh=True)
        status, why = release_status(found, fingerprints.build)
        if status != "released" or found.version is None:
            problems.append(f"  {name}:{resource.version} {why}")
            continue
        digest = found.version.digest
        pins[name] = Pin(name, resource.version, digest, fingerprints.build, image_reference(project, name, digest))
    if problems:
        raise CalvinError(f"cannot pin environment '{environment.name}': not every resource it runs is released "
                          "and tested:\n" + "\n".join(problems) + "\n  run `doit` first")
    return pins


def verify(project: Project, store: ReleaseStore, pins: Mapping[str, Pin], source: str) -> list[str]:
    """What is wrong with promoting these pins: each must still be its version's release, tested."""
    problems = []
    for name, pin in sorted(pins.items()):
        if name not in project.resources:
            problems.append(f"  {name}: no such resource any more")
            continue
        version = store.released(name, pin.version)
        if version is None or version.digest != pin.digest:
            now = "gone" if version is None else f"now {version.digest}"
            problems.append(f"  {name}:{pin.version} pinned in {source} as {pin.digest} is {now} in the release store")
            continue
        if not store.marked(name, pin.digest):
            problems.append(f"  {name}:{pin.version} ({pin.digest}) carries no tested mark")
    return problems
