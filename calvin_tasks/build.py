"""Builders behind one small Protocol: `docker` (a Dockerfile) and `rootfs` (a tarball command)."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Protocol

from .context import write_tar
from .files import write_atomic
from .engine import Engine, Output
from .errors import EngineUnavailable, StepFailed
from .packages.check import check_packages
from .packages.lock import LOCK_FILE, read_epoch
from .model import LABEL_FINGERPRINT, LABEL_PARENT, LABEL_RESOURCE, TIMESTAMP, Entry, Project, Resource
from .revision import source_labels
from .rootimage import created_at, write_archive
from .store import content_reference
from .vm.builders import PackerBuilder, VmRootBuilder, stream
from .why import remember

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
    fresh: bool = False  # doit verify: no cached build steps
    steps: "StepRecord | None" = None  # where the step containers the engine names are recorded


class StepRecord:
    """The step containers of one build, recorded as the engine names them, on disk at once: a build
    the engine abandons leaves them (its steps may even go on running), and the next run removes them."""

    def __init__(self, path: Path) -> None:
        from . import runlock

        self.path = path
        self.ids: list[str] = []
        self.header = {"run": runlock.RUN_ID, "labels": runlock.run_labels()}

    def add(self, container: str) -> None:
        self.ids.append(container)
        write_atomic(self.path, json.dumps({**self.header, "steps": self.ids}) + "\n")

    def done(self) -> None:
        self.path.unlink(missing_ok=True)


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
            # a Dockerfile that names packages.lock (to COPY it for base-linux's calvin-apt-install) finds
            # one in the context, empty until the first build writes it; any other context is the folder's
            stand_in = {LOCK_FILE: b""} if LOCK_FILE.encode() in dockerfile else {}
            write_tar(resource, job.entries, context, {resource.build.dockerfile: dockerfile}, stand_in)
            context.seek(0)
            fresh = {"nocache": True} if job.fresh else {}
            return engine.build(context=context, dockerfile=resource.build.dockerfile,
                                reference=f"{job.repository}:{job.tag}", buildargs=args,
                                network=job.network, output=_quiet(job.output, job.steps), **fresh)


def remove_build_leftovers(engine: Engine, folder: Path) -> int:
    """Remove the step containers of builds an engine abandoned (killed or restarted mid-build, its step
    processes may even still run): each build records the step containers the engine names while it
    runs (`folder`/<run>.json); a record left by a run whose process has ended is such a build."""
    from . import runlock
    from .errors import EngineNotFound

    removed = 0
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if data.get("run") == runlock.RUN_ID or not runlock.owner_gone(data.get("labels") or {}):
            continue
        for container in data.get("steps") or []:
            try:
                engine.remove(container)
                removed += 1
            except EngineNotFound:
                pass
        record.unlink(missing_ok=True)
    return removed


class RootfsBuilder:
    def build(self, engine: Engine, job: BuildJob) -> str:
        resource = job.resource
        with tempfile.TemporaryDirectory(prefix=f"calvin-{resource.name}-") as tmp:
            tarball = str(Path(tmp) / "rootfs.tar")
            command = [part.replace(ROOTFS_PLACEHOLDER, tarball) for part in resource.build.command]
            epoch = read_epoch(resource.folder)  # from packages.lock: the same inputs give the same image id
            env = {"CALVIN_ROOTFS": tarball, **({"SOURCE_DATE_EPOCH": str(epoch)} if epoch is not None else {})}
            _run(command, cwd=resource.folder, env_extra=env, output=job.output)
            if not Path(tarball).is_file():
                raise StepFailed(f"the rootfs command exited 0 but wrote no tarball at $CALVIN_ROOTFS "
                                 f"({' '.join(resource.build.command)})")
            if epoch is not None:
                job.output(f"assembling the image of a {Path(tarball).stat().st_size / 1e6:.1f} MB root file "
                           f"system, created {created_at(epoch)} (SOURCE_DATE_EPOCH from packages.lock)")
                labels = {**job.labels, "org.opencontainers.image.created": created_at(epoch)}
                archive = Path(tmp) / "image.tar"
                reference = f"{job.repository}:{job.tag}"
                write_archive(Path(tarball), archive, reference, epoch, resource.build.image, labels)
                return engine.load_archive(archive=str(archive), reference=reference)
            job.output(f"importing {Path(tarball).stat().st_size / 1e6:.1f} MB root file system")
            changes = [f"LABEL {key}={_quoted(value)}" for key, value in sorted(job.labels.items())]
            changes += _image_changes(resource.build.image)
            return engine.import_rootfs(tarball=tarball, repository=job.repository, tag=job.tag, changes=changes)


_NOISE = (" ---> Running in ", "Removing intermediate container ")


def _quiet(output: Output, steps: StepRecord | None = None) -> Output:
    """The build log without the engine's container bookkeeping; the step containers it names are
    kept in `steps` (a killed engine leaves them behind, running or not)."""
    def write(line: str) -> None:
        if line.strip().startswith(_NOISE[0].strip()) and steps is not None:
            steps.add(line.strip().split()[-1])
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
    stream(command, cwd=cwd, env=dict(os.environ, **env_extra), output=output, what="the rootfs command")


BUILDERS: dict[str, Callable[[], Builder]] = {"docker": DockerBuilder, "rootfs": RootfsBuilder,
                                              "vmroot": VmRootBuilder, "packer": PackerBuilder}


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
        **source_labels(project.settings.root),
    }


def build_resource(project: Project, engine: Engine, name: str, output: Output,
                   parent_image: str | None, *, fresh: bool = False) -> str:
    """Build one resource on its parent's exact image; returns the new image id."""
    resource = project.resources[name]
    if resource.base is not None and parent_image is None:
        raise StepFailed(f"'{name}' needs its parent's image ({content_reference(project, resource.base)})")
    from . import runlock

    steps = StepRecord(project.settings.output / "state" / "building" / f"{runlock.RUN_ID}-{name}.json")
    job = BuildJob(resource=resource, entries=project.inputs[name].build,
                   repository=resource.repository(project.settings.namespace),
                   tag=project.fingerprints[name].content_tag, labels=labels_for(project, name),
                   parent_image=parent_image, network=project.settings.build_network, output=output, fresh=fresh,
                   steps=steps)
    try:
        image = BUILDERS[resource.build.builder]().build(engine, job)
    except EngineUnavailable:
        raise  # the record stays: the next run removes what the engine left
    except BaseException:
        steps.done()  # the builder removed its step containers (forcerm)
        raise
    steps.done()
    check_packages(project, engine, name, image, f"{job.repository}:{job.tag}", output)
    remember(project, name)  # what this fingerprint covered, for `doit why`
    return image
