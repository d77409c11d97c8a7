"""The build system builds: the sample project, end to end, in a running environment.

`build_sample(proxy, admin_password, push_password)` drives a running environment (the dev one)
from outside, through its edge proxy only, as a person would:

1. pushes samples/hello (a fresh commit of the folder as it is) into the source repository,
   `/git/hello.git`, as the user `git` with the push password (an anonymous push is refused);
2. logs in to the controller's REST API as `admin` and forces the `sample-hello` build (force
   scheduler `sample`), which an executor runs: clone from the source repository, build the C
   library and the wheel, run their unit tests, upload the product to the artefact repository as
   one OCI artifact (`application/vnd.calvin.sample.v1`), fetch it back by digest through the edge
   proxy and compare it with what it built;
3. waits (bounded) for the build's success, takes the artefact's digest from its properties, and
   checks the artefact itself: manifest and every blob fetched by digest through the edge proxy,
   each sha256 equal to its digest, the media types, the revision that was pushed, and the
   product's contents (the library and header in the tarball, the package in the wheel).

It returns a `SampleBuild`: the build's duration and the artefact's digest path. The system test
that calls it is tests/test_catalogue.py's `test_the_sample_project_builds_end_to_end` (the
catalogue deployed with docker-compose by `doit up:dev`); tests/test_swarm_catalogue_engine.py calls
it the same way on a two-node swarm, before and after the executors' node is lost.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from helpers import REPO

pytestmark = pytest.mark.engine

SAMPLE = REPO / "samples" / "hello"
BUILDER = "sample-hello"
SCHEDULER = "sample"
PUSH_USER = "git"
SOURCE_PATH = "/git/hello.git"
ARTEFACT = "samples/hello"
ARTIFACT_TYPE = "application/vnd.calvin.sample.v1"
CONFIG_TYPE = "application/vnd.calvin.sample.v1+json"
LAYER_TYPES = {".tar.gz": "application/vnd.calvin.sample.clib.v1.tar+gzip",
               ".whl": "application/vnd.calvin.sample.wheel.v1+zip"}
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
TITLE = "org.opencontainers.image.title"
REVISION = "org.opencontainers.image.revision"

WORKER_TIMEOUT = 120
BUILD_TIMEOUT = 600


@dataclass(frozen=True)
class SampleBuild:
    seconds: float      # from forcing the build to its success, as the test saw it
    build_seconds: int  # the build's own duration, as the controller recorded it
    number: int         # the build's number on the sample-hello builder
    worker: str         # the executor that ran it
    revision: str       # the commit pushed and built
    digest: str         # the artefact's manifest digest, sha256:…
    path: str           # the artefact's digest path, /v2/samples/hello/manifests/sha256:…
    files: dict[str, str]  # the product: file name -> sha256:… (checked)


def build_sample(proxy: str, admin_password: str, push_password: str, *,
                 timeout: float = BUILD_TIMEOUT) -> SampleBuild:
    """Push the sample, force its build, wait for success and check its artefact; see the module
    docstring. `proxy` is the edge proxy's base URL as this machine reaches it, such as
    http://127.0.0.1:8080. Raises AssertionError naming what went wrong."""
    proxy = proxy.rstrip("/")
    with requests.Session() as http:
        http.trust_env = False  # the environment's own address: never through a proxy from the environment
        revision = push_sample(proxy, push_password, http)
        login(proxy, admin_password, http)
        builder_id = _builder_id(proxy, http)
        _wait("an executor connected to the controller", lambda: _connected(proxy, http), WORKER_TIMEOUT)
        started = time.monotonic()
        request_id = _force(proxy, builder_id, revision, http)
        build = _wait(f"the forced {BUILDER} build completes", lambda: _finished(proxy, request_id, http),
                      timeout, pause=2)
        seconds = time.monotonic() - started
        steps = _json(http.get(f"{proxy}/api/v2/builds/{build['buildid']}/steps", timeout=10))["steps"]
        if build["results"] != 0:
            raise AssertionError(f"{BUILDER} build {build['number']} failed (result {build['results']}): "
                                 f"{_summary(steps)}\n{_failed_log(proxy, steps, http)}")
        properties = _properties(proxy, build["buildid"], http)
        workers = {w["workerid"]: w["name"] for w in _json(http.get(f"{proxy}/api/v2/workers", timeout=10))["workers"]}
        assert properties.get("got_revision") == revision, (properties.get("got_revision"), revision)
        digest, path = properties.get("artefact_digest", ""), properties.get("artefact_path", "")
        assert digest.startswith("sha256:") and path == f"/v2/{ARTEFACT}/manifests/{digest}", properties
        files = check_artefact(proxy, digest, revision, http)
        return SampleBuild(seconds, int((build["complete_at"] or 0) - (build["started_at"] or 0)), build["number"],
                           workers.get(build["workerid"], str(build["workerid"])), revision, digest, path, files)


# -- 1. the source ---------------------------------------------------------------------------------

def push_sample(proxy: str, push_password: str, http: requests.Session) -> str:
    """samples/hello as one fresh commit, force-pushed to main of /git/hello.git through the edge
    proxy; returns the commit id. The password travels in git's configuration from the
    environment (GIT_CONFIG_*), never on a command line."""
    url = f"{proxy}{SOURCE_PATH}"
    anonymous = http.get(f"{url}/info/refs", params={"service": "git-receive-pack"}, timeout=10)
    assert anonymous.status_code == 401, f"pushing without a login: {anonymous.status_code} {anonymous.text[:200]}"
    with tempfile.TemporaryDirectory(prefix="calvin-sample-") as folder:
        work = Path(folder) / "hello"
        shutil.copytree(SAMPLE, work, ignore=shutil.ignore_patterns("out", "dist", "build", "*.egg-info",
                                                                     "__pycache__"))
        token = base64.b64encode(f"{PUSH_USER}:{push_password}".encode()).decode()
        env = {key: value for key, value in os.environ.items()
               if key.lower() not in ("http_proxy", "https_proxy", "all_proxy") and not key.startswith("GIT_")}
        env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "HOME": folder,
                    "GIT_AUTHOR_NAME": "Calvin system test", "GIT_AUTHOR_EMAIL": "system-test@calvin.invalid",
                    "GIT_COMMITTER_NAME": "Calvin system test", "GIT_COMMITTER_EMAIL": "system-test@calvin.invalid",
                    "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}"})

        def git(*args: str) -> str:
            result = subprocess.run(["git", *args], cwd=work, env=env, capture_output=True, text=True,
                                    timeout=120, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                raise AssertionError(f"git {args[0]} exited {result.returncode}: {result.stderr.replace(token, '***')}")
            return result.stdout.strip()

        git("init", "-q", "-b", "main")
        git("add", "-A")
        git("commit", "-q", "-m", "samples/hello, pushed by the Calvin system test")
        git("push", "-q", "--force", url, "main")
        revision = git("rev-parse", "HEAD")
        remote = git("ls-remote", url, "refs/heads/main").split()
        assert remote[:1] == [revision], f"the source repository's main is {remote}, not the pushed {revision}"
        return revision


# -- 2. the build ----------------------------------------------------------------------------------

def login(proxy: str, admin_password: str, http: requests.Session) -> None:
    answer = http.get(f"{proxy}/auth/login", auth=("admin", admin_password), allow_redirects=False, timeout=10)
    assert answer.status_code in (200, 302) and http.cookies, f"login as admin: {answer.status_code} {answer.text[:200]}"


def _builder_id(proxy: str, http: requests.Session) -> int:
    builders = _json(http.get(f"{proxy}/api/v2/builders", timeout=10))["builders"]
    found = [builder["builderid"] for builder in builders if builder["name"] == BUILDER]
    assert found, f"the controller has no builder {BUILDER}: {[b['name'] for b in builders]}"
    return int(found[0])


def _connected(proxy: str, http: requests.Session) -> list[str]:
    workers = _json(http.get(f"{proxy}/api/v2/workers", timeout=10))["workers"]
    return [worker["name"] for worker in workers if worker.get("connected_to")]


def _force(proxy: str, builder_id: int, revision: str, http: requests.Session) -> int:
    rpc = {"jsonrpc": "2.0", "id": 1, "method": "force",
           "params": {"builderid": str(builder_id), "reason": f"Calvin system test: sample at {revision[:12]}"}}
    answer = _json(http.post(f"{proxy}/api/v2/forceschedulers/{SCHEDULER}", json=rpc, timeout=30))
    assert "error" not in answer, answer
    _, by_builder = answer["result"]
    return int(by_builder[str(builder_id)] if str(builder_id) in by_builder else by_builder[builder_id])


def _finished(proxy: str, request_id: int, http: requests.Session) -> dict[str, Any] | None:
    builds = _json(http.get(f"{proxy}/api/v2/buildrequests/{request_id}/builds", timeout=10))["builds"]
    return next((build for build in builds if build["complete"]), None)


def _properties(proxy: str, build_id: int, http: requests.Session) -> dict[str, Any]:
    found = _json(http.get(f"{proxy}/api/v2/builds/{build_id}/properties", timeout=10))["properties"]
    return {name: value for name, (value, _source) in (found[0] if found else {}).items()}


def _summary(steps: list[dict[str, Any]]) -> list[tuple[str, Any, str]]:
    return [(step["name"], step["results"], step["state_string"]) for step in steps]


def _failed_log(proxy: str, steps: list[dict[str, Any]], http: requests.Session) -> str:
    """The end of the first failed step's log, for the failure message."""
    failed = next((step for step in steps if step["results"] not in (None, 0, 1, 3)), None)
    if failed is None:
        return ""
    logs = _json(http.get(f"{proxy}/api/v2/steps/{failed['stepid']}/logs", timeout=10))["logs"]
    text = []
    for log in logs:
        contents = _json(http.get(f"{proxy}/api/v2/logs/{log['logid']}/contents", timeout=10))["logchunks"]
        text.append("".join(chunk["content"] for chunk in contents))
    return f"--- log of step '{failed['name']}'\n" + "\n".join(text)[-6000:]


# -- 3. the artefact -------------------------------------------------------------------------------

def check_artefact(proxy: str, digest: str, revision: str, http: requests.Session) -> dict[str, str]:
    """Fetch the manifest and every blob by digest through the edge proxy; every checksum, media
    type and the product's contents must be right. Returns file name -> digest."""
    manifest_url = f"{proxy}/v2/{ARTEFACT}/manifests/{digest}"
    answer = http.get(manifest_url, headers={"Accept": MANIFEST_TYPE}, timeout=30)
    assert answer.status_code == 200, f"GET {manifest_url}: {answer.status_code} {answer.text[:300]}"
    assert _sha256(answer.content) == digest, f"the manifest's sha256 is {_sha256(answer.content)}, not {digest}"
    manifest = answer.json()
    assert manifest["mediaType"] == MANIFEST_TYPE and manifest["artifactType"] == ARTIFACT_TYPE, manifest
    assert manifest["config"]["mediaType"] == CONFIG_TYPE, manifest["config"]
    assert manifest.get("annotations", {}).get(REVISION) == revision, manifest.get("annotations")
    tagged = http.head(f"{proxy}/v2/{ARTEFACT}/manifests/git-{revision}", headers={"Accept": MANIFEST_TYPE},
                       timeout=10)
    assert tagged.headers.get("Docker-Content-Digest") == digest, f"tag git-{revision}: {tagged.status_code} {tagged.headers}"

    blobs: dict[str, bytes] = {}
    for descriptor in [manifest["config"], *manifest["layers"]]:
        blob = http.get(f"{proxy}/v2/{ARTEFACT}/blobs/{descriptor['digest']}", timeout=60)
        assert blob.status_code == 200, f"blob {descriptor['digest']}: {blob.status_code}"
        assert _sha256(blob.content) == descriptor["digest"], f"blob {descriptor['digest']}: sha256 {_sha256(blob.content)}"
        assert len(blob.content) == descriptor["size"], descriptor
        blobs[descriptor.get("annotations", {}).get(TITLE, "(config)")] = blob.content

    layers = {layer["annotations"][TITLE]: layer for layer in manifest["layers"]}
    assert sorted(layers) == ["calvin_hello-1.0.0-py3-none-any.whl", "libhello-1.0.0.tar.gz"], sorted(layers)
    for name, layer in layers.items():
        suffix = next(s for s in LAYER_TYPES if name.endswith(s))
        assert layer["mediaType"] == LAYER_TYPES[suffix], layer
    config = json.loads(blobs["(config)"])
    assert {f["name"]: f["digest"] for f in config["files"]} == {n: l["digest"] for n, l in layers.items()}, config

    with tarfile.open(fileobj=io.BytesIO(blobs["libhello-1.0.0.tar.gz"]), mode="r:gz") as archive:
        members = sorted(member.name for member in archive.getmembers() if member.isfile())
    assert members == ["include/hello.h", "lib/libhello.a"], members
    with zipfile.ZipFile(io.BytesIO(blobs["calvin_hello-1.0.0-py3-none-any.whl"])) as wheel:
        package = wheel.read("calvin_hello/__init__.py").decode()
    assert "def greet(" in package, package[:300]
    return {name: layer["digest"] for name, layer in layers.items()}


# -- helpers ---------------------------------------------------------------------------------------

def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(response: requests.Response, status: int = 200) -> Any:
    if response.status_code != status:
        raise ValueError(f"{response.request.method} {response.url} → {response.status_code}: {response.text[:300]}")
    return response.json()


def _wait(what: str, check: Callable[[], Any], timeout: float, pause: float = 1.0) -> Any:
    """Retry `check` until it returns something true (returned), at most `timeout` s, the pause
    growing from 0.25 s to `pause`; its last answer or error goes into the failure."""
    deadline = time.monotonic() + timeout
    delay, last = 0.25, "not tried"
    while True:
        try:
            value = check()
            if value:
                return value
            last = "not yet"
        except (requests.RequestException, ValueError, KeyError, TypeError) as err:
            last = f"{type(err).__name__}: {err}"
        if time.monotonic() + delay > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s; last: {last}")
        time.sleep(delay)
        delay = min(delay * 2, pause)
