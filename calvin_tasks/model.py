"""Calvin's records: frozen, parsed once at the edge, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

KeyPath = tuple[str | int, ...]

TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"  # UTC, in reports, records, manifests and the created label
GROUPS = ("base", "build", "supporting")
VERSION_PARTS = ("patch", "minor", "major")  # what `doit bump --part` raises
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$")


def version_order(version: str) -> tuple[int, int, int, int, str]:
    """A sort key in semantic version order: 1.2.0-rc.1 < 1.2.0 < 1.10.0; other text sorts first."""
    match = SEMVER.match(version)
    if match is None:
        return (-1, 0, 0, 0, version)
    pre = match.group(4) or ""
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)), 0 if pre else 1, pre)
BUILDERS = ("docker", "rootfs", "vmroot", "packer")
VM_BUILDERS = ("vmroot", "packer")  # their images hold a VM disk (calvin_tasks/vm)
LABEL_FINGERPRINT = "calvin.fingerprint"
LABEL_RESOURCE = "calvin.resource"
LABEL_PARENT = "calvin.parent-fingerprint"
LABEL_NAMESPACE = "calvin.namespace"
TEST_FILE_PREFIX = "test_"


def scalar_text(value: Any) -> str:
    """A YAML scalar as a build argument or environment variable: true/false, not True/False."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Lines:
    """Where each key path of a YAML file starts: carried by the records made from it, so no later
    stage re-reads the file to name a line."""

    table: Mapping[KeyPath, int] = field(default_factory=dict)

    def of(self, key_path: KeyPath) -> int:
        """The line of key_path, or of its nearest ancestor that has one."""
        path = tuple(key_path)
        while path:
            if path in self.table:
                return self.table[path]
            # the table holds keys as written; a key YAML read as a number is looked up as text
            text = tuple(part if isinstance(part, (int, str)) and not isinstance(part, bool) else str(part)
                         for part in path)
            if text in self.table:
                return self.table[text]
            path = path[:-1]
        return self.table.get((), 1)


@dataclass(frozen=True)
class Entry:
    """One file, folder or link of a resource folder, by its path inside the folder."""

    path: str
    kind: str  # "file" | "dir" | "link"
    executable: bool = False
    digest: str = ""
    target: str = ""


@dataclass(frozen=True)
class Inputs:
    """A resource folder, walked once per run: what goes into the build (and its context), and
    the smoke-test inputs."""

    build: tuple[Entry, ...]
    test: tuple[Entry, ...]


@dataclass(frozen=True)
class ConfigKey:
    """A configuration key a resource reads at start, with its type."""

    name: str
    type: str
    description: str = ""
    schemes: tuple[str, ...] = ()  # type url: the schemes the image accepts (empty: any)


@dataclass(frozen=True)
class BuildSpec:
    """How a resource's image is made."""

    builder: str = "docker"
    dockerfile: str = "Dockerfile"
    args: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    image: Mapping[str, Any] = field(default_factory=dict)
    size: str = ""                                             # vmroot: the disk's size, e.g. 2G
    template: str = "template.json"                            # packer: the Packer JSON template
    variables: Mapping[str, str] = field(default_factory=dict)  # packer: the template's own variables

    def settings(self) -> dict[str, Any]:
        """The builder and its settings, canonical: the part the fingerprint covers."""
        if self.builder == "vmroot":
            return {"builder": "vmroot", "command": list(self.command), "size": self.size}
        if self.builder == "packer":
            return {"builder": "packer", "template": self.template, "variables": dict(sorted(self.variables.items()))}
        if self.builder == "rootfs":
            return {"builder": "rootfs", "command": list(self.command), "image": dict(self.image)}
        return {"builder": "docker", "dockerfile": self.dockerfile, "args": dict(sorted(self.args.items()))}


@dataclass(frozen=True)
class CheckSpec:
    """One smoke check from tests.yaml: its kind, its name and its validated settings."""

    kind: str  # command | file | metadata | service | pytest
    name: str
    spec: Mapping[str, Any]
    line: int = 0


@dataclass(frozen=True)
class Runtime:
    """What a resource's image needs at run time, in any environment."""

    ports: tuple[int, ...] = ()
    volumes: Mapping[str, str] = field(default_factory=dict)  # name → path in the container
    health: str | None = None  # the name of the smoke-test service check that says it is healthy


@dataclass(frozen=True)
class Placement:
    """One resource in one environment: its instances, published ports, volumes, Swarm placement."""

    resource: str
    instances: tuple[str, ...]
    publish: Mapping[int, str] = field(default_factory=dict)  # container port → host [address:]port
    volumes: Mapping[str, str] = field(default_factory=dict)  # the resource's volume name → Docker volume
    constraints: tuple[str, ...] = ()
    spread: str | None = None


@dataclass(frozen=True)
class Resource:
    """One folder under resources/: one image."""

    name: str
    folder: Path
    source: Path
    description: str
    group: str
    version: str
    base: str | None = None
    build: BuildSpec = field(default_factory=BuildSpec)
    tests: Path | None = None
    config: tuple[ConfigKey, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    untested_ok: bool = False  # `tests: none`: released without smoke tests on purpose, no warning
    runtime: Runtime = field(default_factory=Runtime)
    display: str = ""  # resource.yaml as the user names it (relative to the project)
    lines: Lines = field(default_factory=Lines, compare=False, repr=False)

    def repository(self, namespace: str) -> str:
        return f"{namespace}/{self.name}"

    @property
    def kind(self) -> str:
        """container | vm: what its image is."""
        return "vm" if self.build.builder in VM_BUILDERS else "container"

    def line_of(self, *key_path: str | int) -> int:
        return self.lines.of(key_path)

    def where(self, *key_path: str | int) -> str:
        """resource.yaml:line of a key, for messages."""
        return f"{self.display or self.source}:{self.line_of(*key_path)}"


@dataclass(frozen=True)
class Settings:
    """Pipeline settings: configs/pipeline.yaml with the environment's overrides."""

    root: Path
    namespace: str = "calvin"
    registry: str | None = None
    build_network: str | None = None
    output: Path = Path("out")
    test_memory: str = "256m"
    test_pids: int = 256
    test_timeout: float = 60.0
    source: Path | None = None
    bump_cascade: bool = False  # `doit bump <r>` also gives descendants a patch bump (pipeline.yaml bump.cascade)
    lock_wait: float = 600.0        # seconds a run waits for another run of the same checkout
    registry_timeout: float = 30.0  # seconds for one request to the registry

    @property
    def resources_dir(self) -> Path:
        return self.root / "resources"


@dataclass(frozen=True)
class Fingerprints:
    """A resource's fingerprints.

    content: what goes into the image's file system — files, build settings, the parent's content;
    build:   the image itself: its content and the version it is labelled with (the content tag);
    test:    its smoke tests.
    Children build on their parent's content, so a version-only bump of a parent rebuilds just
    the parent (from the layer cache), to carry the right version label."""

    build: str
    test: str
    content: str = ""

    @property
    def content_tag(self) -> str:
        return content_tag(self.build)


def content_tag(build_fingerprint: str) -> str:
    """The tag that names an image by what went into it."""
    return f"fp-{build_fingerprint[:24]}"


@dataclass(frozen=True)
class Project:
    """Everything loaded and checked: the resources in build order, with fingerprints."""

    settings: Settings
    resources: Mapping[str, Resource]
    order: tuple[str, ...]
    fingerprints: Mapping[str, Fingerprints]
    inputs: Mapping[str, Inputs] = field(default_factory=dict)
    environments: tuple[Any, ...] = ()
    # A broken resource (and what builds on it) is left out of `resources` and `order`: its problems
    # block only itself and its descendants. `problems` holds every problem, global ones too.
    broken: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    problems: tuple[Any, ...] = ()
    general: tuple[Any, ...] = ()  # problems that stop every run: the environments' configuration

    def parent(self, name: str) -> Resource | None:
        base = self.resources[name].base
        return self.resources[base] if base else None
