"""Containers in the engine: limited, labelled runs for smoke checks, always removed."""
from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass
from typing import IO, Any, Iterable, Mapping

from ..errors import EngineError, EngineNotFound, EngineTimeout, StepFailed
from .transport import Transport


@dataclass(frozen=True)
class Limits:
    memory: str
    pids: int


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False


@dataclass(frozen=True)
class PathInfo:
    type: str  # file | directory | symlink | other
    mode: int
    uid: int
    gid: int
    content: bytes = b""
    target: str = ""


@dataclass(frozen=True)
class Service:
    container: str
    host_port: int


class ContainerApi:
    transport: Transport

    def _create(self, *, image: str, command: list[str] | None, env: Mapping[str, str], user: str | None,
                network: str, limits: Limits, labels: Mapping[str, str], ports: list[int] | None = None,
                entrypoint: list[str] | None = None) -> str:
        api = self.transport.api
        host_config = api.create_host_config(
            network_mode=network, mem_limit=limits.memory, memswap_limit=limits.memory,
            pids_limit=limits.pids, security_opt=["no-new-privileges"], auto_remove=False,
            port_bindings={port: ("127.0.0.1", None) for port in ports or []} or None)
        created = self.transport.call(f"creating a container of {image[:19]}", api.create_container,
                                      image, command=command, environment=dict(env), user=user or None,
                                      labels=dict(labels), host_config=host_config, entrypoint=entrypoint,
                                      ports=ports or None, networking_config=None)
        return str(created["Id"])

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.transport.call(what, getattr(self.transport.api, method), *args, **kwargs)

    def run_command(self, *, image: str, command: list[str], env: Mapping[str, str], user: str | None,
                    network: bool, limits: Limits, labels: Mapping[str, str], timeout: float,
                    keep_entrypoint: bool = False) -> Outcome:
        """Run `command` in a fresh, limited container; always removed afterwards. The command runs
        alone unless `keep_entrypoint`: then as `docker run <image> <command>` runs it."""
        container = self._create(image=image, command=command, env=env, user=user,
                                 network="default" if network else "none", limits=limits, labels=labels,
                                 entrypoint=None if keep_entrypoint else [])
        try:
            self._call("starting a check container", "start", container)
            timed_out = False
            try:
                status = self._call("waiting for a check container", "wait", container, timeout=timeout)
                code = int(status.get("StatusCode", -1))
            except EngineTimeout:
                timed_out, code = True, -1
                self._call("stopping a check container", "kill", container)
            stdout = self._call("reading a check's output", "logs", container, stdout=True, stderr=False)
            stderr = self._call("reading a check's output", "logs", container, stdout=False, stderr=True)
            return Outcome(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"), timed_out)
        finally:
            self.remove(container)

    def read_path(self, *, image: str, path: str, labels: Mapping[str, str], limit: int) -> PathInfo | None:
        """A file's type, mode, owner and content, read from the image without running anything in it."""
        api = self.transport.api
        container = self.transport.call(f"creating a container of {image[:19]}", api.create_container, image,
                                        command=["calvin-never-runs"], entrypoint=[], labels=dict(labels),
                                        network_disabled=True)["Id"]
        try:
            try:
                stream, _ = self._call(f"reading {path}", "get_archive", container, path)
            except EngineNotFound:
                return None
            return _first_member(stream, limit)
        finally:
            self.remove(container)

    def export_path(self, *, image: str, path: str, labels: Mapping[str, str], destination: IO[bytes]) -> None:
        """Write `path` of the image (a tar stream, as `docker cp` gives it) to `destination`, running
        nothing in the image — how a VM disk kept in an image is taken out to boot."""
        api = self.transport.api
        container = self.transport.call(f"creating a container of {image[:19]}", api.create_container, image,
                                        command=["calvin-never-runs"], entrypoint=[], labels=dict(labels),
                                        network_disabled=True)["Id"]
        try:
            stream, _ = self._call(f"reading {path}", "get_archive", container, path)
            for chunk in stream:
                destination.write(chunk)
        finally:
            self.remove(container)

    def file_tree(self, *, image: str, labels: Mapping[str, str]) -> dict[str, tuple[str, int, int, int, str, int]]:
        """Every path of the image's file system: (type, mode, uid, gid, content sha256 or link
        target, mtime), read from an export of a container that never runs."""
        api = self.transport.api
        container = self.transport.call(f"creating a container of {image[:19]}", api.create_container, image,
                                        command=["calvin-never-runs"], entrypoint=[], labels=dict(labels),
                                        network_disabled=True)["Id"]
        try:
            reader = _ChunkReader(self._call("exporting a container", "export", container))
            tree: dict[str, tuple[str, int, int, int, str, int]] = {}
            try:
                with tarfile.open(fileobj=io.BufferedReader(reader), mode="r|") as tar:
                    for member in tar:
                        kind = ("file" if member.isfile() else "directory" if member.isdir()
                                else "symlink" if member.issym() else "link" if member.islnk() else "other")
                        detail = member.linkname
                        if member.isfile():
                            handle = tar.extractfile(member)
                            digest = hashlib.sha256()
                            for block in iter(lambda: handle.read(1 << 20), b"") if handle else ():
                                digest.update(block)
                            detail = digest.hexdigest()
                        tree["/" + member.name.rstrip("/")] = (kind, member.mode & 0o7777, member.uid, member.gid,
                                                               detail, int(member.mtime))
            finally:
                reader.drain()
            return tree
        finally:
            self.remove(container)

    def start_service(self, *, image: str, command: list[str] | None, env: Mapping[str, str], port: int,
                      limits: Limits, labels: Mapping[str, str], network: str) -> Service:
        """Start the image's own command, its port published on 127.0.0.1."""
        container = self._create(image=image, command=command, env=env, user=None, network=network,
                                 limits=limits, labels=labels, ports=[port])
        try:
            self._call("starting a service container", "start", container)
            details = self._call("inspecting a service container", "inspect_container", container)
            bindings = details["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
            host_port = int(bindings[0]["HostPort"]) if bindings else 0
        except BaseException:
            self.remove(container)
            raise
        return Service(container, host_port)

    def inspect_container(self, container: str) -> dict[str, Any]:
        return dict(self._call("inspecting a container", "inspect_container", container))

    def state(self, container: str) -> tuple[bool, int]:
        info = self._call("inspecting a service container", "inspect_container", container)["State"]
        return bool(info.get("Running")), int(info.get("ExitCode") or 0)

    def logs(self, container: str, tail: int = 40) -> str:
        return str(self._call("reading a container's log", "logs", container, tail=tail).decode("utf-8", "replace"))

    def exec(self, container: str, *, command: list[str], env: Mapping[str, str], user: str | None,
             timeout: float) -> Outcome:
        """Run a command inside a running container (bounded: past `timeout` the container is killed)."""
        exec_id = self._call("starting a command in a service", "exec_create", container, command,
                             environment=dict(env), user=user or "")["Id"]

        def collect() -> tuple[str, str]:
            out, err = self._call("running a command in a service", "exec_start", exec_id, demux=True)
            return (out or b"").decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")

        import concurrent.futures  # (imports logging: only when a service command runs)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(collect)
        try:
            stdout, stderr = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            self._call("stopping a service container", "kill", container)
            pool.shutdown(wait=False)
            return Outcome(-1, "", "", True)
        pool.shutdown(wait=False)
        code = self._call("reading a command's exit code", "exec_inspect", exec_id).get("ExitCode")
        return Outcome(int(code if code is not None else -1), stdout, stderr, False)

    def remove(self, container: str) -> None:
        try:
            self._call("removing a container", "remove_container", container, force=True, v=True)
        except EngineNotFound:
            pass

    def containers(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every container (running or not) carrying all these labels."""
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        return list(self._call("listing containers", "containers", all=True, filters=filters))

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """A bridge network without IP masquerading: reachable on published ports, no route out."""
        if self._call("listing networks", "networks", names=[name]):
            return name
        try:
            self._call(f"creating the network {name}", "create_network", name, driver="bridge",
                       labels=dict(labels), check_duplicate=True,
                       options={"com.docker.network.bridge.enable_ip_masquerade": "false"})
        except EngineError as err:
            if err.status != 409:  # 409: another run created it meanwhile
                raise StepFailed(f"cannot create the smoke-test network '{name}': {err}") from None
        return name


class _ChunkReader(io.RawIOBase):
    """A file over the engine's stream of chunks, read as it arrives."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def drain(self) -> None:
        """Read the rest: the engine's connection is only free once its answer is consumed."""
        for _ in self._chunks:
            pass


def _first_member(stream: Iterable[bytes], limit: int) -> PathInfo | None:
    reader = _ChunkReader(stream)
    try:
        try:
            tar = tarfile.open(fileobj=io.BufferedReader(reader), mode="r|")
            member = next(iter(tar), None)
        except tarfile.TarError:
            return None
        if member is None:
            return None
        kind = ("file" if member.isfile() else "directory" if member.isdir()
                else "symlink" if member.issym() else "other")
        content = b""
        if member.isfile():
            handle = tar.extractfile(member)
            content = handle.read(limit) if handle else b""
        return PathInfo(kind, member.mode & 0o7777, member.uid, member.gid, content, member.linkname)
    finally:
        reader.drain()
