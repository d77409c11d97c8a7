"""The benchmark's view of the Docker engine, and a private engine of its own.

Builds are counted from the engine, never from Calvin's output: an image id under a
namespace that did not exist before a run and whose `Created` time lies inside the run is
one build of the resource it is tagged for. A cache hit gives back an existing id; a pull
keeps the image's original `Created` time; so neither counts. The engine's image events
(tag, pull, push, untag, delete) in the run's window are recorded beside it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from .dockerd import Dockerd

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def _created(text: str) -> float:
    """The engine's RFC 3339 time with nanoseconds, as a Unix time."""
    text = text.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(text + "+00:00").timestamp()


def _repository(tag: str) -> str:
    """ns/name:tag -> ns/name (a registry's :port is not a tag)."""
    return tag[: tag.rfind(":")] if tag.rfind(":") > tag.rfind("/") else tag


def in_namespace(tag: str, namespace: str) -> bool:
    """ns/name[:tag], or registry/ns/name[:tag]."""
    parts = _repository(tag).split("/")
    return (len(parts) == 2 and parts[0] == namespace) or (len(parts) >= 3 and parts[-2] == namespace)


def resource_of(tag: str) -> str:
    return _repository(tag).rsplit("/", 1)[-1]


@dataclass
class Observation:
    """What the engine did during one run."""

    built: list[str]
    events: dict[str, int] = field(default_factory=dict)


class EngineProbe:
    """Snapshots of a namespace's images, and the builds between two snapshots."""

    def __init__(self, base_url: str) -> None:
        import docker

        self.base_url = base_url
        self.client = docker.DockerClient(base_url=base_url, timeout=300)
        self.seen: dict[str, set[str]] = {}  # namespace -> every image id ever tagged in it

    def version(self) -> str:
        return str(self.client.version().get("Version", "?"))

    def images(self, namespace: str) -> dict[str, list[str]]:
        """image id -> its tags under `namespace`."""
        found: dict[str, list[str]] = {}
        for image in self.client.api.images():
            tags = [t for t in image.get("RepoTags") or () if t != "<none>:<none>" and in_namespace(t, namespace)]
            if tags:
                found[image["Id"]] = tags
        self.seen.setdefault(namespace, set()).update(found)
        return found

    def observe(self, namespace: str, before: dict[str, list[str]], started: float, ended: float) -> Observation:
        after = self.images(namespace)
        built: set[str] = set()
        for image_id in set(after) - set(before):
            try:
                created = _created(self.client.api.inspect_image(image_id)["Created"])  # type: ignore[no-untyped-call]
            except Exception:
                continue
            if created >= started - 0.5:
                built.update(resource_of(tag) for tag in after[image_id])
        return Observation(sorted(built), self.events(namespace, started, ended))

    def events(self, namespace: str, started: float, ended: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        # The engine takes fractional Unix times; the SDK's stubs only know ints and datetimes.
        stream = self.client.api.events(since=f"{started - 0.05:.9f}", until=f"{ended + 0.05:.9f}",  # type: ignore[call-overload]
                                        filters={"type": "image"}, decode=True)
        for event in stream:
            actor = event.get("Actor") or {}
            names = [str(actor.get("ID") or ""), str((actor.get("Attributes") or {}).get("name") or "")]
            if any(in_namespace(name, namespace) for name in names if "/" in name):
                action = str(event.get("Action") or event.get("status") or "?")
                counts[action] = counts.get(action, 0) + 1
        return counts

    def remove_local(self, namespace: str) -> int:
        """Remove every image tagged in `namespace` (local and registry-prefixed tags)."""
        removed = 0
        for image_id, tags in self.images(namespace).items():
            for tag in tags:
                try:
                    self.client.api.remove_image(tag, force=True)
                    removed += 1
                except Exception:
                    pass
        return removed

    def clean(self, namespaces: Iterable[str]) -> int:
        """Remove every image the benchmark made: tags in its namespaces, then every id once seen
        there (an image a rebuild untagged), children before parents."""
        ids: set[str] = set()
        removed = 0
        for namespace in namespaces:
            removed += self.remove_local(namespace)
            ids |= self.seen.get(namespace, set())
        for _ in range(5):
            left = set()
            for image_id in ids:
                try:
                    self.client.api.remove_image(image_id, force=True)
                    removed += 1
                except Exception as err:
                    if "No such image" not in str(err) and "404" not in str(err):
                        left.add(image_id)
            if not left:
                break
            ids = left
        return removed

    def close(self) -> None:
        self.client.close()


class PrivateEngine:
    """A dockerd of the benchmark's own (same binary, its own data root and socket, bench/dockerd.py)
    on a bridge of its own: no other user's builds, prunes or images share it, and removing it
    removes everything it made."""

    def __init__(self, work: Path, *, token: str | None = None, bridge: str | None = None,
                 address: str = "10.254.254.1/24") -> None:
        self.token = token or f"calvin-bench-{os.getpid()}"
        self.bridge = ""
        self.bridge_name = bridge or f"calvbench{os.getpid() % 100000}"  # at most 15 characters
        self.address = address
        self.daemon = Dockerd(self.token, work / "dockerd.log", args=[f"--bridge={self.bridge_name}"])
        self.base_url = self.daemon.host
        self.data_root, self.exec_root = self.daemon.data_root, self.daemon.exec_root

    @staticmethod
    def possible() -> bool:
        return os.geteuid() == 0 and shutil.which("dockerd") is not None

    def start(self) -> None:
        self.bridge = self.bridge_name
        for step in (["ip", "link", "add", self.bridge, "type", "bridge"],
                     ["ip", "addr", "add", self.address, "dev", self.bridge],
                     ["ip", "link", "set", self.bridge, "up"]):
            subprocess.run(step, check=True, capture_output=True)
        self.start_daemon()

    def start_daemon(self) -> None:
        """(Re)start dockerd on the bridge made by start(), keeping its data: an outage, not a loss."""
        self.daemon.start()

    def kill(self) -> None:
        """SIGKILL dockerd, as an OOM killer or a crash would (its containerd dies with it)."""
        self.daemon.kill()

    def stop(self) -> None:
        self.daemon.remove()
        if self.bridge:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


def describe_machine(probe: EngineProbe) -> dict[str, Any]:
    def read(path: str) -> str:
        try:
            return Path(path).read_text()
        except OSError:
            return ""

    cpu = next((line.split(":", 1)[1].strip() for line in read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), "?")
    mem_kb = next((int(line.split()[1]) for line in read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal")), 0)
    client = subprocess.run(["docker", "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True)
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "kernel": os.uname().release,
        "engine": probe.version(),
        "docker_cli": client.stdout.strip() or "?",
        "builder": "classic (docker-py API for Calvin; docker CLI without buildx for the baseline)",
    }
