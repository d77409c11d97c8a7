"""Shared helpers for Calvin's tests: tiny projects, doit runs in a subprocess, cleanup of what
a test made in the engine, and the test registry (bench/registry.py, shared with the benchmark).

Plain functions and classes, imported by the test modules and by conftest.py's fixtures."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from bench.generate import doit_table
from bench.registry import Credentials, RegistryProcess, installed as registry_installed, start_registry

__all__ = ["BUSYBOX", "DOIT", "REPO", "Credentials", "RegistryProcess", "child_resource", "doit_table",
           "make_project", "ran", "registry_installed", "remove_namespace", "root_resource", "run_doit",
           "start_registry", "write"]

REPO = Path(__file__).resolve().parent.parent
BUSYBOX = Path("/bin/busybox")
DOIT = [sys.executable, "-m", "doit"]


def make_project(root: Path, files: Mapping[str, str | bytes | Path] | None = None, *,
                 pipeline: str | None = None) -> Path:
    """A Calvin project in `root`: dodo.py, pyproject.toml, configs/pipeline.yaml and `files`.

    A value that is a Path is copied (e.g. BUSYBOX)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dodo.py").write_text((REPO / "dodo.py").read_text())
    (root / "pyproject.toml").write_text(doit_table())
    (root / "configs").mkdir(exist_ok=True)
    (root / "configs" / "pipeline.yaml").write_text(pipeline if pipeline is not None else
                                                     "namespace: calvin\n")
    (root / "resources").mkdir(exist_ok=True)
    for relative, content in (files or {}).items():
        write(root / relative, content)
    return root


def write(path: Path, content: str | bytes | Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, Path):
        shutil.copy2(content, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def root_resource(name: str, *, extra: str = "", version: str = "1.0.0", group: str = "base") -> dict[str, str | Path]:
    """A FROM scratch resource with a static busybox: builds in well under a second."""
    return {
        f"resources/{name}/resource.yaml": f"description: {name} test root\ngroup: {group}\nversion: {version}\n",
        f"resources/{name}/busybox": BUSYBOX,
        f"resources/{name}/Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\n"
                                        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n' + extra,
    }


def child_resource(name: str, base: str, *, note: str | None = None, version: str = "1.0.0",
                   group: str = "build", extra: str = "") -> dict[str, str | Path]:
    """A resource on `base`: one COPY and one RUN."""
    return {
        f"resources/{name}/resource.yaml": f"description: {name} on {base}\ngroup: {group}\n"
                                           f"version: {version}\nbase: {base}\n",
        f"resources/{name}/note.txt": (note if note is not None else name) + "\n",
        f"resources/{name}/Dockerfile": "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY note.txt /note.txt\n"
                                        "RUN cat /note.txt\n" + extra,
    }


def run_doit(project: Path, *args: str, namespace: str, env: Mapping[str, str] | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`doit ARGS` in the project, as a user runs it; output captured as text."""
    full_env = dict(os.environ, CALVIN_NAMESPACE=namespace, PYTHONUNBUFFERED="1")
    full_env.pop("CALVIN_REGISTRY", None)
    full_env.update(env or {})
    return subprocess.run([*DOIT, *args], cwd=project, env=full_env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def ran(result: subprocess.CompletedProcess[str], step: str) -> list[str]:
    """The resources for which `step` (build, test, release) ran in this doit run."""
    prefix = f".  {step}:"
    return sorted(line[len(prefix):].strip() for line in result.stdout.splitlines() if line.startswith(prefix))


def remove_namespace(client: Any, namespace: str) -> None:
    """Remove every container and image Calvin made under `namespace` (also registry-prefixed tags)."""
    import docker.errors

    for container in client.api.containers(all=True, filters={"label": f"calvin.namespace={namespace}"}):
        try:
            client.api.remove_container(container["Id"], force=True)
        except docker.errors.NotFound:
            pass
    for image in client.api.images():
        for tag in image.get("RepoTags") or []:
            parts = tag.split("/")
            if namespace in parts[:-1]:
                try:
                    client.api.remove_image(tag, force=True)
                except docker.errors.APIError:
                    pass
