"""Release without Docker: the registry reader against a fake HTTP registry, the tag formats,
and pushes whose progress stream reports a failure."""
from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from calvin_tasks import store
from calvin_tasks.engine import Engine
from calvin_tasks.errors import CalvinError, RegistryUnavailable, StepFailed
from calvin_tasks.model import LABEL_FINGERPRINT, Fingerprints, content_tag
from calvin_tasks.registry import Registry
from calvin_tasks.store import RegistryStore

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
FINGERPRINT = hashlib.sha256(b"build inputs").hexdigest()
TEST_FINGERPRINT = hashlib.sha256(b"test inputs").hexdigest()


# -- a fake registry: canned answers per path, every request recorded -------------------------

class FakeRegistry:
    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01},
                                       daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = fake.routes.get(self.path, (404, {}, b'{"errors":[{"code":"NOT_FOUND"}]}'))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def answer(self, path: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[path] = (status, headers or {}, data)

    def add_image(self, repository: str, tag: str, labels: dict[str, str]) -> tuple[str, str]:
        """A schema-2 manifest and its config blob; returns (manifest digest, config digest)."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": labels}}).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                               "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                          "size": len(config), "digest": config_digest},
                               "layers": []}).encode()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        self.answer(f"/v2/{repository}/manifests/{tag}", manifest,
                    headers={"Content-Type": MANIFEST_V2, "Docker-Content-Digest": digest})
        self.answer(f"/v2/{repository}/blobs/{config_digest}", config)
        return digest, config_digest

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()
    fake.answer("/v2/", {})
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- Registry ------------------------------------------------------------------------------

def test_a_missing_tag_is_none(fake_registry: FakeRegistry) -> None:
    assert Registry(fake_registry.address).image("calvin/base", "1.0.0") is None
    assert fake_registry.paths() == ["/v2/calvin/base/manifests/1.0.0"]


def test_an_image_is_read_from_its_manifest_and_config_blob(fake_registry: FakeRegistry) -> None:
    labels = {LABEL_FINGERPRINT: FINGERPRINT, "calvin.resource": "base"}
    digest, config_digest = fake_registry.add_image("calvin/base", "1.0.0", labels)

    image = Registry(fake_registry.address).image("calvin/base", "1.0.0")

    assert image is not None
    assert image.reference == f"{fake_registry.address}/calvin/base:1.0.0"
    assert image.digest == digest
    assert image.config_digest == config_digest
    assert dict(image.labels) == labels
    assert fake_registry.paths() == ["/v2/calvin/base/manifests/1.0.0", f"/v2/calvin/base/blobs/{config_digest}"]
    # The manifest is asked for as schema 2 (a schema-1 answer has no config blob and other digests).
    assert MANIFEST_V2 in fake_registry.requests[0][1]["accept"]


def test_config_labels_are_read_once_per_config(fake_registry: FakeRegistry) -> None:
    _, config_digest = fake_registry.add_image("calvin/base", "1.0.0", {LABEL_FINGERPRINT: FINGERPRINT})
    fake_registry.add_image("calvin/base", content_tag(FINGERPRINT), {LABEL_FINGERPRINT: FINGERPRINT})
    registry = Registry(fake_registry.address)

    first = registry.image("calvin/base", "1.0.0")
    second = registry.image("calvin/base", content_tag(FINGERPRINT))

    assert first is not None and second is not None
    assert first.labels[LABEL_FINGERPRINT] == second.labels[LABEL_FINGERPRINT] == FINGERPRINT
    assert fake_registry.paths().count(f"/v2/calvin/base/blobs/{config_digest}") == 1


def test_an_image_without_labels_has_none(fake_registry: FakeRegistry) -> None:
    fake_registry.add_image("calvin/base", "1.0.0", {})
    image = Registry(fake_registry.address).image("calvin/base", "1.0.0")
    assert image is not None and dict(image.labels) == {}


def test_an_unreachable_registry_is_a_clear_error() -> None:
    address = f"127.0.0.1:{closed_port()}"
    registry = Registry(address, timeout=5)
    for call in (registry.ping, lambda: registry.image("calvin/base", "1.0.0"), lambda: registry.tags("calvin/base")):
        with pytest.raises(RegistryUnavailable) as caught:
            call()
        message = str(caught.value)
        assert isinstance(caught.value, CalvinError)  # printed as a message, without a traceback
        assert f"cannot reach the registry at {address}" in message
        assert "CALVIN_REGISTRY" in message  # says how to do without one
        assert "\n" not in message


def test_a_server_that_is_no_registry_is_refused_by_ping(fake_registry: FakeRegistry) -> None:
    fake_registry.answer("/v2/", b"<html>not here</html>", status=404)
    with pytest.raises(RegistryUnavailable, match=r"does not answer like a Docker registry \(GET /v2/ → 404\)"):
        Registry(fake_registry.address).ping()


def test_a_registry_asking_for_a_login_names_the_command(fake_registry: FakeRegistry) -> None:
    fake_registry.answer("/v2/", {"errors": [{"code": "UNAUTHORIZED"}]}, status=401)
    with pytest.raises(RegistryUnavailable) as refused:
        Registry(fake_registry.address).ping()
    assert str(refused.value) == (f"the registry at {fake_registry.address} needs a login: "
                                  f"docker login {fake_registry.address}")


def test_a_server_error_on_a_manifest_is_an_error_not_a_missing_tag(fake_registry: FakeRegistry) -> None:
    fake_registry.answer("/v2/calvin/base/manifests/1.0.0", {"errors": [{"code": "UNKNOWN"}]}, status=500)
    with pytest.raises(RegistryUnavailable, match="answered 500 for calvin/base:1.0.0"):
        Registry(fake_registry.address).image("calvin/base", "1.0.0")


def test_a_config_blob_the_registry_fails_to_serve_is_an_error_and_not_remembered(
        fake_registry: FakeRegistry) -> None:
    # Read as "no labels", a released version would look like fingerprint 'unknown' and the
    # release would stop with a false "version not bumped".
    _, config_digest = fake_registry.add_image("calvin/base", "1.0.0", {LABEL_FINGERPRINT: FINGERPRINT})
    path = f"/v2/calvin/base/blobs/{config_digest}"
    blob = fake_registry.routes[path]
    fake_registry.answer(path, {"errors": [{"code": "UNKNOWN"}]}, status=500)
    registry = Registry(fake_registry.address)
    with pytest.raises(RegistryUnavailable, match="500"):
        registry.image("calvin/base", "1.0.0")
    fake_registry.routes[path] = blob  # the registry recovers
    again = registry.image("calvin/base", "1.0.0")
    assert again is not None and again.labels.get(LABEL_FINGERPRINT) == FINGERPRINT


def test_tags_are_listed(fake_registry: FakeRegistry) -> None:
    fake_registry.answer("/v2/calvin/base/tags/list", {"name": "calvin/base", "tags": ["1.0.0", "fp-abc"]})
    assert Registry(fake_registry.address).tags("calvin/base") == ["1.0.0", "fp-abc"]
    assert Registry(fake_registry.address).tags("calvin/other") == []


# -- tag formats ---------------------------------------------------------------------------

def test_the_content_tag_is_fp_and_the_first_24_hex_digits_of_the_build_fingerprint() -> None:
    assert content_tag(FINGERPRINT) == f"fp-{FINGERPRINT[:24]}"
    assert len(content_tag(FINGERPRINT)) == 27


def test_the_tested_mark_is_t_and_the_first_24_hex_digits_of_the_test_fingerprint() -> None:
    marks = Fingerprints(build=FINGERPRINT, test=TEST_FINGERPRINT)
    assert store.tested_tag(marks) == "t-" + hashlib.sha256(f"{FINGERPRINT}:{TEST_FINGERPRINT}".encode()).hexdigest()[:24]
    assert len(store.tested_tag(marks)) == 26
    # a newer image passing the same tests gets a mark of its own
    assert store.tested_tag(Fingerprints(build="1" * 64, test=TEST_FINGERPRINT)) != store.tested_tag(marks)


def test_release_tags_are_valid_docker_tags() -> None:
    import re

    tag = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    assert tag.match(content_tag(FINGERPRINT)) and tag.match(store.tested_tag(Fingerprints(build=FINGERPRINT, test=TEST_FINGERPRINT)))
    # A content tag and a tested mark never collide, even for the same hash.
    assert content_tag(FINGERPRINT) != store.tested_tag(Fingerprints(build=FINGERPRINT, test=FINGERPRINT))


# -- pushes: the engine reports failures inside the stream ---------------------------------

class FakeAPI:
    def __init__(self, push: list[dict[str, Any]] | None = None, pull: list[dict[str, Any]] | None = None) -> None:
        self.push_stream, self.pull_stream = push or [], pull or []
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def push(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.calls.append(("push", args, kwargs))
        return iter(self.push_stream)

    def pull(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.calls.append(("pull", args, kwargs))
        return iter(self.pull_stream)

    def inspect_image(self, reference: str) -> dict[str, Any]:
        raise AssertionError(f"a failed pull must not look for {reference}")


def engine_with(api: FakeAPI) -> Engine:
    return Engine(client=SimpleNamespace(api=api))


DIGEST = "sha256:" + "ab" * 32


def test_a_push_returns_the_digest_the_engine_reports() -> None:
    api = FakeAPI(push=[{"status": "The push refers to repository [127.0.0.1:5000/calvin/base]"},
                        {"status": "Preparing", "id": "1"}, {"status": "Pushed", "id": "1"},
                        {"status": f"1.0.0: digest: {DIGEST} size: 528"},
                        {"progressDetail": {}, "aux": {"Tag": "1.0.0", "Digest": DIGEST, "Size": 528}}])
    lines: list[str] = []
    assert engine_with(api).push("127.0.0.1:5000/calvin/base", "1.0.0", lines.append) == DIGEST
    assert api.calls == [("push", ("127.0.0.1:5000/calvin/base",), {"tag": "1.0.0", "stream": True, "decode": True})]
    assert any("Pushed" in line for line in lines)


def test_a_push_whose_stream_reports_an_error_fails() -> None:
    api = FakeAPI(push=[{"status": "Preparing"}, {"errorDetail": {"message": "boom"}, "error": "boom"}])
    with pytest.raises(StepFailed, match="boom") as caught:
        engine_with(api).push("127.0.0.1:5000/calvin/base", "1.0.0", lambda line: None)
    assert "127.0.0.1:5000/calvin/base:1.0.0" in str(caught.value)


def test_a_push_reporting_an_error_after_its_digest_fails() -> None:
    api = FakeAPI(push=[{"aux": {"Tag": "1.0.0", "Digest": DIGEST, "Size": 528}},
                        {"error": "unexpected EOF"}])
    with pytest.raises(StepFailed, match="unexpected EOF"):
        engine_with(api).push("127.0.0.1:5000/calvin/base", "1.0.0", lambda line: None)


def test_a_push_with_only_an_error_field_fails() -> None:
    api = FakeAPI(push=[{"status": "Preparing"}, {"error": "denied: requested access to the resource is denied"}])
    with pytest.raises(StepFailed, match="denied"):
        engine_with(api).push("registry.example/calvin/base", "1.0.0", lambda line: None)


def test_a_push_whose_stream_ends_without_a_digest_fails() -> None:
    api = FakeAPI(push=[{"status": "The push refers to repository [127.0.0.1:5000/calvin/base]"},
                        {"status": "Preparing", "id": "1"}, {"status": "Waiting", "id": "1"}])
    with pytest.raises(StepFailed, match="ended without a digest"):
        engine_with(api).push("127.0.0.1:5000/calvin/base", "1.0.0", lambda line: None)


def test_an_empty_push_stream_fails() -> None:
    with pytest.raises(StepFailed, match="without a digest"):
        engine_with(FakeAPI(push=[])).push("127.0.0.1:5000/calvin/base", "1.0.0", lambda line: None)


def test_a_pull_whose_stream_reports_an_error_fails() -> None:
    api = FakeAPI(pull=[{"status": "Pulling from calvin/base"},
                        {"errorDetail": {"message": "manifest unknown"}, "error": "manifest unknown"}])
    with pytest.raises(StepFailed, match="pull of 127.0.0.1:5000/calvin/base:fp-abc failed: manifest unknown"):
        engine_with(api).pull("127.0.0.1:5000/calvin/base", "fp-abc", lambda line: None)


# -- the registry store: a release that cannot reach the registry pushes nothing ----------

class RecordingEngine:
    def __init__(self, digests: list[str]) -> None:
        self.digests = list(digests)
        self.tagged: list[tuple[str, str, str]] = []
        self.pushed: list[tuple[str, str]] = []
        self.untagged: list[str] = []

    def tag(self, image: str, repository: str, tag: str) -> None:
        self.tagged.append((image, repository, tag))

    def untag(self, reference: str) -> None:
        self.untagged.append(reference)

    def push(self, repository: str, tag: str, output: Any, auth: Any = None) -> str:
        self.pushed.append((repository, tag))
        return self.digests.pop(0)


def store_with(address: str, engine: RecordingEngine) -> RegistryStore:
    project = SimpleNamespace(settings=SimpleNamespace(namespace="calvin", output=Path("out")), resources={})
    return RegistryStore(project, engine, Registry(address, timeout=5))  # type: ignore[arg-type]


def test_publishing_to_an_unreachable_registry_pushes_nothing() -> None:
    address = f"127.0.0.1:{closed_port()}"
    engine = RecordingEngine([DIGEST] * 3)
    with pytest.raises(RegistryUnavailable, match=f"cannot reach the registry at {address}"):
        store_with(address, engine).publish("base", "sha256:" + "0" * 64, ["fp-x", "t-y", "1.0.0"], print)
    assert engine.pushed == []


def test_publishing_pushes_every_tag_and_returns_their_one_digest(fake_registry: FakeRegistry) -> None:
    engine = RecordingEngine([DIGEST] * 3)
    digest = store_with(fake_registry.address, engine).publish("base", "sha256:" + "0" * 64,
                                                               ["fp-x", "t-y", "1.0.0"], print)
    assert digest == DIGEST
    remote = f"{fake_registry.address}/calvin/base"
    assert engine.pushed == [(remote, "fp-x"), (remote, "t-y"), (remote, "1.0.0")]
    assert [(repository, tag) for _, repository, tag in engine.tagged] == engine.pushed
    assert engine.untagged == [f"{remote}:{tag}" for tag in ("fp-x", "t-y", "1.0.0")]  # no registry-prefixed tag stays


def test_tags_pushed_with_different_digests_are_a_failure(fake_registry: FakeRegistry) -> None:
    engine = RecordingEngine([DIGEST, DIGEST, "sha256:" + "cd" * 32])
    with pytest.raises(StepFailed, match="different digests"):
        store_with(fake_registry.address, engine).publish("base", "sha256:" + "0" * 64,
                                                          ["fp-x", "t-y", "1.0.0"], print)
