"""Builders behind one small Protocol: `docker` (a Dockerfile) and `rootfs` (a tarball command)."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Protocol

from .context import write_tar
from .engine import Engine, Output
from .errors import StepFailed
from .model import LABEL_FINGERPRINT, LABEL_PARENT, LABEL_RESOURCE, TIMESTAMP, Entry, Project, Resource
from .store import content_reference

ROOTFS_PLACEHOLDER = "{rootfs}"


@dataclass(frozen=True)
class BuildJob:
    """One image to make: the resource, where to tag it, and what it builds on."""

    resource: Resource
    entries: tuple[Entry, ...]
    repository: str
    tag: str
    labels: Mapping[str, str]
    parent_image: str | None
    network: str | None
    output: Output


class Builder(Protocol):
    def build(self, engine: Engine, job: BuildJob) -> str:
        """Make the image, tag it job.repository:job.tag, return its id."""


class DockerBuilder:
    def build(self, engine: Engine, job: BuildJob) -> str:
        resource = job.resource
        args = dict(resource.build.args)
        if job.parent_image is not None:
            args["BASE_IMAGE"] = job.parent_image
        # One LABEL line appended to the final stage: the engine's `labels` option costs a step per label.
        dockerfile = (resource.folder / resource.build.dockerfile).read_bytes().rstrip(b"\n")
        labels = " ".join(f"{_quoted(key)}={_quoted(value)}" for key, value in sorted(job.labels.items()))
        dockerfile += f"\nLABEL {labels}\n".encode()
        with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as context:
            write_tar(resource, job.entries, context, {resource.build.dockerfile: dockerfile})
            context.seek(0)
            return engine.build(context=context, dockerfile=resource.build.dockerfile,
                                reference=f"{job.repository}:{job.tag}", buildargs=args,
                                network=job.network, output=_quiet(job.output))


class RootfsBuilder:
    def build(self, engine: Engine, job: BuildJob) -> str:
        resource = job.resource
        with tempfile.TemporaryDirectory(prefix=f"calvin-{resource.name}-") as tmp:
            tarball = str(Path(tmp) / "rootfs.tar")
            command = [part.replace(ROOTFS_PLACEHOLDER, tarball) for part in resource.build.command]
            _run(command, cwd=resource.folder, env_extra={"CALVIN_ROOTFS": tarball}, output=job.output)
            if not Path(tarball).is_file():
                raise StepFailed(f"the rootfs command exited 0 but wrote no tarball at $CALVIN_ROOTFS "
                                 f"({' '.join(resource.build.command)})")
            job.output(f"importing {Path(tarball).stat().st_size / 1e6:.1f} MB root file system")
            changes = [f"LABEL {key}={_quoted(value)}" for key, value in sorted(job.labels.items())]
            changes += _image_changes(resource.build.image)
            return engine.import_rootfs(tarball=tarball, repository=job.repository, tag=job.tag, changes=changes)


_NOISE = (" ---> Running in ", "Removing intermediate container ")


def _quiet(output: Output) -> Output:
    """The build log without the engine's container bookkeeping."""
    def write(line: str) -> None:
        if not line.startswith(_NOISE) and not line.startswith(_NOISE[0].strip()):
            output(line)
    return write


def _quoted(value: str) -> str:
    """A Dockerfile LABEL word: double-quoted, with the characters the Dockerfile parser
    treats specially escaped ($ would be substituted), on one line."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + " ".join(escaped.splitlines()) + '"'


def _image_changes(image: Mapping[str, object]) -> list[str]:
    changes = []
    for key, instruction in (("entrypoint", "ENTRYPOINT"), ("cmd", "CMD")):
        if key in image:
            changes.append(f"{instruction} {json.dumps(image[key])}")
    for name, value in sorted(dict(image.get("env") or {}).items()):  # type: ignore[call-overload]
        changes.append(f"ENV {name}={_quoted(value)}")
    if "user" in image:
        changes.append(f"USER {image['user']}")
    if "workdir" in image:
        changes.append(f"WORKDIR {image['workdir']}")
    return changes


def _run(command: list[str], *, cwd: Path, env_extra: Mapping[str, str], output: Output) -> None:
    env = dict(os.environ, **env_extra)
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, errors="replace")
    except FileNotFoundError:
        raise StepFailed(f"the rootfs command '{command[0]}' is not installed on this machine") from None
    assert process.stdout is not None
    for line in process.stdout:
        output(line.rstrip("\n"))
    if process.wait() != 0:
        raise StepFailed(f"the rootfs command exited with status {process.returncode}: {' '.join(command)}")


BUILDERS: dict[str, Callable[[], Builder]] = {"docker": DockerBuilder, "rootfs": RootfsBuilder}


def labels_for(project: Project, name: str) -> dict[str, str]:
    resource = project.resources[name]
    parent = project.parent(name)
    return {
        LABEL_FINGERPRINT: project.fingerprints[name].build,
        LABEL_RESOURCE: name,
        LABEL_PARENT: project.fingerprints[parent.name].build if parent else "",
        "org.opencontainers.image.title": name,
        "org.opencontainers.image.version": resource.version,
        "org.opencontainers.image.description": resource.description,
        "org.opencontainers.image.created": datetime.now(timezone.utc).strftime(TIMESTAMP),
    }


def build_resource(project: Project, engine: Engine, name: str, output: Output,
                   parent_image: str | None) -> str:
    """Build one resource on its parent's exact image; returns the new image id."""
    resource = project.resources[name]
    if resource.base is not None and parent_image is None:
        raise StepFailed(f"'{name}' needs its parent's image ({content_reference(project, resource.base)})")
    job = BuildJob(resource=resource, entries=project.inputs[name].build,
                   repository=resource.repository(project.settings.namespace),
                   tag=project.fingerprints[name].content_tag, labels=labels_for(project, name),
                   parent_image=parent_image, network=project.settings.build_network, output=output)
    return BUILDERS[resource.build.builder]().build(engine, job)
