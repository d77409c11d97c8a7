"""Images in the engine: find (asked once per run), build, import, tag, push, pull."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Mapping

from ..errors import EngineError, EngineNotFound, EngineUnavailable, StepFailed
from ..model import LABEL_FINGERPRINT
from .transport import Transport, address, socket_path

Output = Callable[[str], None]


@dataclass(frozen=True)
class ImageInfo:
    """What Calvin needs to know of an image in the engine."""

    id: str
    tags: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    size: int = 0
    created: str = ""  # the engine's RFC 3339 time the image was made (its last layer committed)

    @property
    def fingerprint(self) -> str | None:
        return self.labels.get(LABEL_FINGERPRINT)


def image_info(data: Mapping[str, Any]) -> ImageInfo:
    """What Calvin keeps of the engine's answer to inspecting an image."""
    config = data.get("Config") or {}
    return ImageInfo(data["Id"], tuple(data.get("RepoTags") or ()), config.get("Labels") or {},
                     int(data.get("Size") or 0), str(data.get("Created") or ""))


class ImageApi:
    transport: Transport
    _lock: threading.Lock
    _known: dict[str, ImageInfo | None]

    # -- what exists -------------------------------------------------------------------------
    def find(self, reference: str) -> ImageInfo | None:
        """The image tagged `reference` (repository:tag), asked once per run.

        One inspect answers for every tag of that image: a resource's content tag also tells
        whether its version tag and tested mark point to the same image."""
        with self._lock:
            if reference in self._known:
                return self._known[reference]
        info = self._inspect_cheaply(reference)
        self._remember(reference, info)
        return info

    def prefetch(self, references: list[str], workers: int = 4) -> None:
        """Ask for many references at once, over a few connections: the engine answers
        inspects in parallel, and a no-op run of a large project is mostly these."""
        with self._lock:
            missing = [r for r in references if r not in self._known]
        if len(missing) < 8:
            return
        from concurrent.futures import ThreadPoolExecutor  # (a small project asks one by one)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for reference, info in zip(missing, pool.map(self._inspect_cheaply, missing), strict=True):
                self._remember(reference, info)

    def forget(self, reference: str) -> None:
        """Ask the engine again next time (after someone else may have changed the tag)."""
        with self._lock:
            self._known.pop(reference, None)

    def _inspect_cheaply(self, reference: str) -> ImageInfo | None:
        if socket_path() is None or self.transport.sdk_loaded:
            return self.inspect(reference)
        data = self.transport.get_json(f"/images/{reference}/json", f"inspecting {reference}")
        return None if data is None else image_info(data)

    def inspect(self, reference: str) -> ImageInfo | None:
        try:
            return image_info(self.inspect_raw(reference))
        except EngineNotFound:
            return None

    def inspect_raw(self, reference: str) -> dict[str, Any]:
        return dict(self.transport.call(f"inspecting {reference}", self.transport.api.inspect_image, reference))

    def tags(self, repository: str) -> list[str]:
        """Every tag of `repository` in the engine."""
        listed = self.transport.call(f"listing the images of {repository}", self.transport.api.images, name=repository)
        return sorted(tag.rsplit(":", 1)[1] for image in listed for tag in image.get("RepoTags") or []
                      if tag.rsplit(":", 1)[0] == repository)

    def _remember(self, reference: str, info: ImageInfo | None) -> None:
        with self._lock:
            self._known[reference] = info
            if info is not None:
                for tag in (*info.tags, info.id):  # one inspect answers for every tag, and for the id
                    self._known[tag] = info

    def images(self, reference: str) -> list[ImageInfo]:
        """Every image with a tag matching `reference` (`ns/name`, or a pattern such as `ns/*`):
        one listing, no inspect per image."""
        listed = self.transport.call(f"listing the images of {reference}", self.transport.api.images,
                                     filters={"reference": reference})
        return [ImageInfo(item["Id"], tuple(t for t in item.get("RepoTags") or () if t != "<none>:<none>"),
                          item.get("Labels") or {}, int(item.get("Size") or 0))
                for item in listed]

    def remove_image(self, reference: str) -> list[str]:
        """Remove a tag, and the image when no other tag names it and nothing is built on it;
        returns the ids of the images (and intermediate layers) the engine deleted."""
        try:
            answer = self.transport.call(f"removing {reference}", self.transport.api.remove_image, reference,
                                         noprune=False)
        except EngineNotFound:
            answer = []
        self.forget(reference)
        return [str(item["Deleted"]) for item in answer or [] if isinstance(item, dict) and item.get("Deleted")]

    def layers_size(self) -> int:
        """Bytes the engine's image layers take on disk (what `docker system df` calls images)."""
        return int(self.transport.call("measuring the engine's image storage", self.transport.api.df)
                   .get("LayersSize") or 0)

    # -- making images -----------------------------------------------------------------------
    def build(self, *, context: IO[bytes], dockerfile: str, reference: str, buildargs: Mapping[str, str],
              network: str | None, output: Output, nocache: bool = False) -> str:
        """Build from a tar context, streaming the log; returns the image id. `nocache`: run every
        step again (doit verify), not the engine's cached layers."""
        api = self.transport.api
        stream = self.transport.stream(f"the build of {reference}", lambda: api.build(
            fileobj=context, custom_context=True, dockerfile=dockerfile, tag=reference, buildargs=dict(buildargs),
            network_mode=network, rm=True, forcerm=True, pull=False, decode=True, nocache=nocache))
        image_id = None
        try:
            for chunk in stream:
                text = chunk.get("stream")
                if text:
                    for line in text.rstrip("\n").splitlines():
                        output(line)
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = aux["ID"]
        except StepFailed:
            if not self._still_answering():
                raise EngineUnavailable(f"the Docker engine at {address()} stopped during the build of {reference} "
                                        "(the build's step was not at fault): run again once it is back") from None
            raise
        info = self.inspect(reference)
        if info is None:
            raise StepFailed(f"the build of {reference} ended without an image")
        if image_id and image_id != info.id:
            raise StepFailed(f"the build of {reference} produced {image_id} but the tag points to {info.id}")
        self._remember(reference, info)
        return info.id

    def import_rootfs(self, *, tarball: str, repository: str, tag: str, changes: list[str]) -> str:
        """Import a root file-system tarball as an image; returns the image id."""
        reference = f"{repository}:{tag}"
        api = self.transport.api
        for _ in self.transport.stream(f"the import of {reference}", lambda: api.import_image_from_file(
                tarball, repository=repository, tag=tag, changes=changes)):
            pass  # every chunk is checked for an error
        info = self.inspect(reference)
        if info is None:
            raise StepFailed(f"the import of {reference} ended without an image")
        self._remember(reference, info)
        return info.id

    def load_archive(self, *, archive: str, reference: str) -> str:
        """`docker load` an image archive (manifest.json, config, layers) naming `reference`;
        returns the image id — the digest of the archive's config, the same on any engine."""
        api = self.transport.api
        with open(archive, "rb") as data:
            for _ in self.transport.stream(f"the load of {reference}", lambda: api.load_image(data, quiet=True)):
                pass  # every chunk is checked for an error
        self.forget(reference)
        info = self.inspect(reference)
        if info is None:
            raise StepFailed(f"the load of {reference} ended without an image")
        self._remember(reference, info)
        return info.id

    def _still_answering(self, tries: int = 3) -> bool:
        """Whether the engine still answers, a few times over a second: an engine being stopped
        first kills its containers (a build step then 'returns 137'), then stops answering."""
        for _ in range(tries):
            try:
                self.transport.call("a ping", self.transport.api.ping)
            except EngineError:
                return False
            time.sleep(0.4)
        return True

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        done = self.transport.call(f"tagging {repository}:{tag}", self.transport.api.tag, image_id, repository,
                                   tag=tag, force=True)
        if not done:
            raise StepFailed(f"could not tag {image_id} as {repository}:{tag}")
        self.forget(f"{repository}:{tag}")

    def untag(self, reference: str) -> None:
        """Remove one tag, only while the image keeps another: removing an image's last tag deletes
        the image, and another run may have moved the tag we would leave it with."""
        info = self.inspect(reference)
        if info is None or len(info.tags) < 2:
            return
        try:
            self.transport.call(f"removing the tag {reference}", self.transport.api.remove_image, reference,
                                noprune=False)
        except EngineNotFound:
            pass
        self.forget(reference)

    # -- registries ---------------------------------------------------------------------------
    def push(self, repository: str, tag: str, output: Output, auth: Mapping[str, str] | None = None) -> str:
        """Push repository:tag, checking every chunk of the stream; returns the manifest digest."""
        digest = ""
        shown: set[str] = set()
        api = self.transport.api
        for chunk in self.transport.stream(f"the push of {repository}:{tag}", lambda: api.push(
                repository, tag=tag, stream=True, decode=True, **_auth(auth))):
            status = chunk.get("status") or ""
            if status and status not in ("Pushing", "Preparing", "Waiting") and status not in shown:
                shown.add(status)
                output(f"push {tag}: {status}")
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
        if not digest:
            raise StepFailed(f"the push of {repository}:{tag} ended without a digest")
        return digest

    def pull(self, repository: str, tag: str, output: Output, auth: Mapping[str, str] | None = None) -> str:
        """Pull repository:tag, checking every chunk; returns the image id."""
        api = self.transport.api
        for chunk in self.transport.stream(f"the pull of {repository}:{tag}", lambda: api.pull(
                repository, tag=tag, stream=True, decode=True, **_auth(auth))):
            status = chunk.get("status") or ""
            if status.startswith(("Digest", "Status")):
                output(status)
        self.forget(f"{repository}:{tag}")
        info = self.inspect(f"{repository}:{tag}")
        if info is None:
            raise StepFailed(f"the pull of {repository}:{tag} ended without an image")
        return info.id


def _auth(auth: Mapping[str, str] | None) -> dict[str, Any]:
    """The SDK's auth_config argument, only when there are credentials to send."""
    return {"auth_config": dict(auth)} if auth else {}
