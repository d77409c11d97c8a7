"""Synthetic Calvin projects: N tiny resources in a chain, a wide fan-out or a 3-ary tree.

Every resource is tiny, so the benchmark measures the pipeline, not the builds:

- a root is `FROM scratch` + the host's static /bin/busybox + a one-line note, then
  `RUN ["/bin/busybox", "--install", "-s", "/bin"]`;
- every other resource is `ARG BASE_IMAGE` / `FROM ${BASE_IMAGE}` + a one-file COPY + a RUN
  (optionally `sleep S` first, to make the builds I/O-bound for the parallel scenario).

Each note carries a salt, so two projects generated with different salts share no layer
beyond the busybox COPY of the root (the engine's layer cache would otherwise make a
"cold" build warm). The project is a complete Calvin project (dodo.py, pyproject.toml with
Calvin's [tool.doit] table, configs/pipeline.yaml) and also holds `bench-order.txt`, the
topological order the baseline (bench/baseline.sh) builds in.

Chains are capped at MAX_CHAIN (50) resources. The engine refuses an image deeper than 125
layers ("max depth exceeded"). Measured on Docker 20.10 (classic builder): these tiny children
add one layer each (COPY; the RUN changes no file and the classic builder records no layer for
it), and the 123rd resource of a chain fails; a resource whose RUN writes files adds two layers,
which puts the limit near 62. 50 keeps a margin for both.

    python -m bench.generate --shape tree -n 50 --out /tmp/p --namespace calvin-bench-x
"""
from __future__ import annotations

import argparse
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUSYBOX = Path("/bin/busybox")
SHAPES = ("chain", "wide", "tree")
MAX_CHAIN = 50
ORDER_FILE = "bench-order.txt"
_VERSION = re.compile(r"^version: (\d+)\.(\d+)\.(\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Node:
    name: str
    parent: str | None
    depth: int


def resource_name(index: int) -> str:
    return f"r{index:04d}"


def topology(n: int, shape: str) -> list[Node]:
    """The resources in topological order (parents first): r0000 is the root."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: one of {', '.join(SHAPES)}")
    if n < 1:
        raise ValueError("n must be at least 1")
    if shape == "chain" and n > MAX_CHAIN:
        raise ValueError(f"a chain of {n} nears the engine's 125-layer limit (about 62 resources of two layers); "
                         f"chains are capped at {MAX_CHAIN}")
    nodes: list[Node] = []
    for i in range(n):
        if i == 0:
            parent = None
        elif shape == "chain":
            parent = i - 1
        elif shape == "wide":
            parent = 0
        else:  # 3-ary tree, breadth first
            parent = (i - 1) // 3
        depth = 0 if parent is None else nodes[parent].depth + 1
        nodes.append(Node(resource_name(i), None if parent is None else resource_name(parent), depth))
    return nodes


def leaves(nodes: list[Node]) -> list[str]:
    parents = {node.parent for node in nodes}
    return [node.name for node in nodes if node.name not in parents]


def descendants(nodes: list[Node], name: str) -> set[str]:
    found: set[str] = set()
    for node in nodes:  # parents come first: one pass suffices
        if node.parent == name or node.parent in found:
            found.add(node.name)
    return found


def doit_table() -> str:
    """The [tool.doit] table of Calvin's own pyproject.toml, as TOML text."""
    table = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["doit"]
    lines = ["[tool.doit]"]
    for key, value in table.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{key} = {value}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(_toml_string(str(v)) for v in value)}]")
        else:
            lines.append(f"{key} = {_toml_string(str(value))}")
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def root_dockerfile() -> str:
    return ("FROM scratch\n"
            "COPY busybox /bin/busybox\n"
            "COPY note.txt /notes/root.txt\n"
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')


def child_dockerfile(name: str, sleep: float) -> str:
    run = f"sleep {sleep:g} && cat /notes/{name}.txt" if sleep else f"cat /notes/{name}.txt"
    return ("ARG BASE_IMAGE\n"
            "FROM ${BASE_IMAGE}\n"
            f"COPY note.txt /notes/{name}.txt\n"
            f"RUN {run}\n")


def generate(root: Path, n: int, shape: str, *, namespace: str, salt: str, sleep: float = 0.0,
             registry: str | None = None) -> list[Node]:
    """Write a complete Calvin project with n resources in `shape` under `root` (emptied first)."""
    nodes = topology(n, shape)
    if root.exists():
        shutil.rmtree(root)
    (root / "configs").mkdir(parents=True)
    (root / "dodo.py").write_text((REPO / "dodo.py").read_text())
    (root / "pyproject.toml").write_text(doit_table())
    pipeline = f"namespace: {namespace}\nbuild: {{network: host}}\n"
    if registry:
        pipeline += f"registry: {registry}\n"
    (root / "configs" / "pipeline.yaml").write_text(pipeline)
    for node in nodes:
        folder = root / "resources" / node.name
        folder.mkdir(parents=True)
        yaml = (f"description: synthetic {shape} resource {node.name}\n"
                f"group: {'base' if node.parent is None else 'build'}\n"
                "version: 1.0.0\n")
        if node.parent is None:
            shutil.copy2(BUSYBOX, folder / "busybox")
            (folder / "Dockerfile").write_text(root_dockerfile())
        else:
            yaml += f"base: {node.parent}\n"
            (folder / "Dockerfile").write_text(child_dockerfile(node.name, sleep))
        (folder / "resource.yaml").write_text(yaml)
        (folder / "note.txt").write_text(f"{node.name} {salt}\n")
    (root / ORDER_FILE).write_text("".join(f"{node.name} {node.parent or '-'} {node.depth}\n" for node in nodes))
    return nodes


def edit(root: Path, names: list[str] | set[str], stamp: str) -> None:
    """Edit each resource's note: a build input, so its fingerprint and its image change."""
    for name in sorted(names):
        with (root / "resources" / name / "note.txt").open("a") as note:
            note.write(f"changed {stamp}\n")


def bump(root: Path, names: list[str] | set[str]) -> None:
    """Bump each resource's patch version, as a user must: Calvin refuses a new fingerprint under a
    released version ("version not bumped"). The baseline never reads resource.yaml."""
    for name in sorted(names):
        source = root / "resources" / name / "resource.yaml"
        text = source.read_text()
        match = _VERSION.search(text)
        assert match is not None, source
        major, minor, patch = (int(x) for x in match.groups())
        source.write_text(_VERSION.sub(f"version: {major}.{minor}.{patch + 1}", text, count=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=SHAPES, default="tree")
    parser.add_argument("-n", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--namespace", default="calvin-bench")
    parser.add_argument("--salt", default="0")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds each child's RUN sleeps")
    parser.add_argument("--registry", default=None)
    args = parser.parse_args()
    nodes = generate(args.out, args.n, args.shape, namespace=args.namespace, salt=args.salt, sleep=args.sleep,
                     registry=args.registry)
    print(f"{args.out}: {len(nodes)} resources, {args.shape}, depth {max(n.depth for n in nodes)}")


if __name__ == "__main__":
    main()
