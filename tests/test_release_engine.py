"""Release against a real engine and a real registry: tags pushed, the manifest matching the
registry, a fresh machine building nothing, immutable versions, an unreachable registry, and
release order.

The project (fingerprints made unique per test by a salt label in the root's first step):

    root ── mid ── leaf
         └─ side
"""
from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from helpers import RegistryProcess, child_resource, make_project, ran, root_resource, run_doit, write
from calvin_tasks.model import Fingerprints
from calvin_tasks.project import load_project
from calvin_tasks.store import tested_tag as mark_of

pytestmark = pytest.mark.engine

NAMES = ["root", "mid", "side", "leaf"]
PARENTS = {"root": None, "mid": "root", "side": "root", "leaf": "mid"}
FINGERPRINT = "calvin.fingerprint"
SALT = "calvin.test-salt"
HEX24 = re.compile(r"^[0-9a-f]{24}$")


# -- this module's own namespace: cleanup that tolerates other sessions working the same engine --

def salted_images(client: Any, namespace: str) -> list[dict[str, Any]]:
    """Every image (intermediate ones too) this test made or pulled: the salt label of the root's
    first step is inherited by every image built on it. The low-level listing: the high-level
    one inspects each image and fails when another session removes one meanwhile."""
    return list(client.api.images(all=True, filters={"label": f"{SALT}={namespace}"}))


def purge(client: Any, namespace: str) -> None:
    """No container, tag or image of the namespace left in the engine (registry tags included)."""
    import docker.errors

    for container in client.api.containers(all=True, filters={"label": f"calvin.namespace={namespace}"}):
        try:
            client.api.remove_container(container["Id"], force=True, v=True)
        except docker.errors.NotFound:
            pass
    for image in client.api.images():
        for tag in image.get("RepoTags") or []:
            if tag.startswith(f"{namespace}/") or f"/{namespace}/" in tag:
                try:
                    client.api.remove_image(tag, force=True)
                except docker.errors.APIError:
                    pass
    for _ in range(10):  # children first: an image with dependants cannot go before them
        left = sorted(salted_images(client, namespace), key=lambda i: i["Created"], reverse=True)
        if not left:
            return
        for image in left:
            try:
                client.api.remove_image(image["Id"], force=True)
            except docker.errors.APIError:
                pass


@pytest.fixture
def namespace(docker_client: Any) -> Iterator[str]:
    """Overrides conftest's: no global prune of dangling images (it races with other sessions'
    builds), everything of this test's own removed instead."""
    name = f"calvin-test-{secrets.token_hex(4)}"
    yield name
    purge(docker_client, name)


def tree(tmp_path: Path, namespace: str) -> Path:
    """The project; the salt label in the root's *first* step keeps this test's build cache its own:
    another session's cleanup cannot delete a cached step this test is building on."""
    files: dict[str, str | Path] = {}
    files.update(root_resource("root"))
    dockerfile = files["resources/root/Dockerfile"]
    assert isinstance(dockerfile, str) and dockerfile.startswith("FROM scratch\n")
    files["resources/root/Dockerfile"] = dockerfile.replace("FROM scratch\n",
                                                            f"FROM scratch\nLABEL {SALT}={namespace}\n", 1)
    files.update(child_resource("mid", "root"))
    files.update(child_resource("side", "root"))
    files.update(child_resource("leaf", "mid"))
    return make_project(tmp_path / "project", files)


# -- running doit ------------------------------------------------------------------------------

# The engine's classic builder fails a build when another session deletes an image under it: its
# cleanup prunes dangling images, and a build's newest step is dangling until the next step commits.
# Such a failure says nothing about Calvin; the run is repeated (what finished stays done).
ENGINE_RACE = re.compile(r"^FAILED build:\S+: build failed: .*(failed to get digest|unknown parent image ID|"
                         r"No such image: sha256:|layer does not exist|reference does not exist)")


def _race(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode != 0 and any(ENGINE_RACE.match(line) for line in result.stdout.splitlines())


def _merged(first: subprocess.CompletedProcess[str],
            retry: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """One result for a run repeated after an engine race: the steps the first attempt started, then
    the retry's whole output without the steps already listed (`ran` sees each step once)."""
    started = [line for line in first.stdout.splitlines() if line.startswith(".  ")]
    lines = list(started)
    for line in retry.stdout.splitlines():
        if not (line.startswith(".  ") and line in started):
            lines.append(line)
    note = "(test harness: repeated after an engine race with another session's image cleanup)\n"
    return subprocess.CompletedProcess(retry.args, retry.returncode, note + "\n".join(lines) + "\n",
                                       first.stderr + retry.stderr)


def doit(project: Path, namespace: str, registry: RegistryProcess | None, *args: str,
         ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"CALVIN_REGISTRY": registry.address} if registry is not None else {}
    result = run_doit(project, *args, namespace=namespace, env=env)
    for _ in range(2):
        if not _race(result):
            break
        result = _merged(result, run_doit(project, *args, namespace=namespace, env=env))
    if ok:
        assert result.returncode == 0, f"doit failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def text(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def manifest(project: Path) -> dict[str, Any]:
    return json.loads((project / "out" / "releases" / "latest.json").read_text())


def entries(project: Path) -> dict[str, dict[str, Any]]:
    return {entry["resource"]: entry for entry in manifest(project)["resources"]}


def edit_leaf(project: Path, note: str, version: str | None = None) -> None:
    write(project / "resources" / "leaf" / "note.txt", note + "\n")
    if version is not None:
        source = project / "resources" / "leaf" / "resource.yaml"
        source.write_text(re.sub(r"(?m)^version: .*$", f"version: {version}", source.read_text()))


def local_images(client: Any, fingerprints: list[str]) -> list[str]:
    """The ids of every image in the engine (intermediate ones too) carrying one of these fingerprints."""
    found: set[str] = set()
    for fingerprint in fingerprints:
        found.update(i["Id"] for i in client.api.images(all=True, filters={"label": f"{FINGERPRINT}={fingerprint}"}))
    return sorted(found)


def images_of(client: Any, repository: str) -> list[dict[str, Any]]:
    """The images tagged in `repository` (Id, RepoTags, Labels), from one low-level listing."""
    return list(client.api.images(name=repository))


def forget_local(client: Any, namespace: str, project: Path, fingerprints: list[str]) -> None:
    """A fresh machine: no image of the namespace in the engine (registry tags included), no out/,
    no doit database."""
    purge(client, namespace)
    assert salted_images(client, namespace) == [] and local_images(client, fingerprints) == [], \
        "could not clear the engine for the test"
    shutil.rmtree(project / "out", ignore_errors=True)
    for database in project.glob(".doit*"):
        database.unlink()


def inspect(client: Any, reference: str) -> dict[str, Any] | None:
    import docker.errors

    try:
        return dict(client.api.inspect_image(reference))
    except docker.errors.NotFound:
        return None


def local_id(client: Any, reference: str) -> str | None:
    data = inspect(client, reference)
    return None if data is None else str(data["Id"])


def repositories(registry: RegistryProcess, namespace: str) -> dict[str, dict[str, str | None]]:
    """What the registry holds of the project: every resource's tags and their digests."""
    return {name: registry.snapshot(f"{namespace}/{name}") for name in NAMES}


def release_order_ok(result: subprocess.CompletedProcess[str]) -> None:
    released = [line[len(".  release:"):].strip() for line in result.stdout.splitlines()
                if line.startswith(".  release:")]
    for name in released:
        parent = PARENTS[name]
        if parent is not None and parent in released:
            assert released.index(parent) < released.index(name), f"{name} released before {parent}: {released}"


# -- with a registry -------------------------------------------------------------------------

def test_release_pushes_every_tag_and_the_manifest_matches_the_registry(
        tmp_path: Path, namespace: str, registry: RegistryProcess) -> None:
    project = tree(tmp_path, namespace)
    result = doit(project, namespace, registry)

    assert ran(result, "build") == sorted(NAMES)
    assert ran(result, "release") == sorted(NAMES)
    release_order_ok(result)
    document = manifest(project)
    assert document["registry"] == registry.address and document["namespace"] == namespace
    found = entries(project)
    assert sorted(found) == sorted(NAMES)
    for name in NAMES:
        entry, repository = found[name], f"{namespace}/{name}"
        fingerprint, test_fingerprint = entry["fingerprint"], entry["test_fingerprint"]
        version_tag, content, tested = entry["version"], f"fp-{fingerprint[:24]}", mark_of(Fingerprints(build=fingerprint, test=test_fingerprint))
        assert [t for t in registry.tags(repository) if not t.startswith("sbom-")] == sorted([version_tag, content, tested]), name
        # The three tags are one image, and the manifest's digest is the registry's.
        digests = {tag: registry.digest(repository, tag) for tag in (version_tag, content, tested)}
        assert len(set(digests.values())) == 1, digests
        assert entry["digest"] == digests[version_tag] and entry["digest"].startswith("sha256:"), name
        assert entry["released"] is True
        assert entry["reference"] == f"{registry.address}/{repository}:{version_tag}"
        # The fingerprint is the one the image carries, read back from the registry's config blob.
        config_digest, config = registry.config_of(repository, version_tag)
        labels = config["config"]["Labels"]
        assert labels[FINGERPRINT] == fingerprint
        assert labels["calvin.resource"] == name
        assert labels["org.opencontainers.image.version"] == version_tag
        assert entry["image_id"] == config_digest  # built here: the local image is the pushed one
        # Parents by name, and the parent fingerprint both in the manifest and in the image.
        parent = PARENTS[name]
        assert entry["parent"] == parent, name
        if parent is None:
            assert entry["parent_fingerprint"] is None
        else:
            assert entry["parent_fingerprint"] == found[parent]["fingerprint"]
            assert labels["calvin.parent-fingerprint"] == found[parent]["fingerprint"]


def test_a_fresh_machine_builds_and_pushes_nothing_unchanged(
        tmp_path: Path, namespace: str, registry: RegistryProcess, docker_client: Any) -> None:
    project = tree(tmp_path, namespace)
    doit(project, namespace, registry)
    first = entries(project)
    fingerprints = [first[name]["fingerprint"] for name in NAMES]
    before = repositories(registry, namespace)
    forget_local(docker_client, namespace, project, fingerprints)

    result = doit(project, namespace, registry)

    assert ran(result, "build") == [], result.stdout
    assert ran(result, "test") == [], result.stdout  # the registry's tested marks say they passed
    assert ran(result, "release") == [], result.stdout
    # The engine agrees: nothing with these fingerprints, nothing built on this test's root at
    # all, was built (or even pulled).
    assert local_images(docker_client, fingerprints) == []
    assert salted_images(docker_client, namespace) == []
    assert repositories(registry, namespace) == before
    # The manifest is written again, from the registry.
    again = entries(project)
    for name in NAMES:
        assert again[name]["fingerprint"] == first[name]["fingerprint"]
        assert again[name]["digest"] == first[name]["digest"] == before[name][first[name]["version"]]
        assert again[name]["released"] is True


def test_a_bumped_leaf_on_a_fresh_machine_builds_only_the_leaf_on_its_pulled_parent(
        tmp_path: Path, namespace: str, registry: RegistryProcess, docker_client: Any) -> None:
    project = tree(tmp_path, namespace)
    doit(project, namespace, registry)
    first = entries(project)
    fingerprints = [first[name]["fingerprint"] for name in NAMES]
    mid_reference = f"{namespace}/mid:fp-{first['mid']['fingerprint'][:24]}"
    mid_before = inspect(docker_client, mid_reference)
    assert mid_before is not None
    before = repositories(registry, namespace)
    forget_local(docker_client, namespace, project, fingerprints)

    edit_leaf(project, "leaf, changed", version="1.1.0")
    result = doit(project, namespace, registry)

    assert ran(result, "build") == ["leaf"], result.stdout
    assert ran(result, "test") == ["leaf"], result.stdout
    assert ran(result, "release") == ["leaf"], result.stdout
    # The parent is in the engine again, pulled from the registry, not built: same image, same time.
    image = inspect(docker_client, mid_reference)
    assert image is not None, f"{mid_reference} is not in the engine"
    assert image["Id"] == mid_before["Id"] == registry.config_of(f"{namespace}/mid", "1.0.0")[0]
    assert image["Created"] == mid_before["Created"]
    assert image["Config"]["Labels"][FINGERPRINT] == first["mid"]["fingerprint"]
    # Only the parent was needed: root and side stay in the registry.
    assert local_images(docker_client, [first["root"]["fingerprint"], first["side"]["fingerprint"]]) == []
    # The new leaf is built on exactly that parent and released as 1.1.0; 1.0.0 is untouched.
    leaf = entries(project)["leaf"]
    assert leaf["version"] == "1.1.0" and leaf["fingerprint"] != first["leaf"]["fingerprint"]
    assert leaf["parent_fingerprint"] == first["mid"]["fingerprint"]
    after = repositories(registry, namespace)
    assert {name: after[name] for name in ["root", "mid", "side"]} == \
        {name: before[name] for name in ["root", "mid", "side"]}
    assert after["leaf"]["1.0.0"] == before["leaf"]["1.0.0"]
    assert after["leaf"]["1.1.0"] == leaf["digest"]
    assert after["leaf"][f"fp-{leaf['fingerprint'][:24]}"] == leaf["digest"]
    labels = registry.labels(f"{namespace}/leaf", "1.1.0")
    assert labels[FINGERPRINT] == leaf["fingerprint"]
    assert labels["calvin.parent-fingerprint"] == first["mid"]["fingerprint"]


def test_a_changed_leaf_without_a_version_bump_is_not_released(
        tmp_path: Path, namespace: str, registry: RegistryProcess, docker_client: Any) -> None:
    project = tree(tmp_path, namespace)
    doit(project, namespace, registry)
    old = entries(project)["leaf"]["fingerprint"]
    before = repositories(registry, namespace)

    edit_leaf(project, "leaf, changed but not bumped")
    result = doit(project, namespace, registry, ok=False)

    # a releasing run stops before it builds anything, naming the resource, both fingerprints and the line
    assert result.returncode != 0
    assert ran(result, "build") == []
    new = load_project(project).fingerprints["leaf"].build
    failures = [line for line in result.stdout.splitlines() if line.strip().startswith("leaf: version not bumped")]
    assert failures, result.stdout
    message = failures[0]
    assert "version not bumped" in message
    assert "'leaf'" in message or "leaf:1.0.0" in message
    assert HEX24.match(old[:24]) and HEX24.match(new[:24])
    assert old[:24] in message and new[:24] in message
    assert "resources/leaf/resource.yaml" in message
    assert "Traceback" not in text(result)
    # Nothing of leaf was pushed: not the version, not its content tag, not its tested mark.
    assert repositories(registry, namespace) == before
    # a person can still build and test the change before choosing its version
    tried = run_doit(project, "test:leaf", namespace=namespace, env={"CALVIN_REGISTRY": registry.address})
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert ran(tried, "build") == ["leaf"] and ran(tried, "test") == ["leaf"]
    assert repositories(registry, namespace) == before


def test_an_unreachable_registry_stops_the_run_before_it_builds_and_the_next_run_carries_on(
        tmp_path: Path, namespace: str, registry: RegistryProcess, docker_client: Any) -> None:
    project = tree(tmp_path, namespace)
    doit(project, namespace, registry)
    edit_leaf(project, "leaf, while the registry is down", version="1.0.1")
    registry.stop()

    # Without the registry Calvin cannot know what is released: it decides nothing and builds nothing.
    result = doit(project, namespace, registry, ok=False)

    assert result.returncode != 0
    assert ran(result, "build") == [] and ran(result, "test") == []
    output = text(result)
    assert "Traceback" not in output and 'File "' not in output
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert failures, output
    for line in failures:
        assert registry.address in line and "cannot reach the registry" in line, line

    registry.start()
    result = doit(project, namespace, registry)

    assert ran(result, "build") == ["leaf"] and ran(result, "test") == ["leaf"], result.stdout
    assert ran(result, "release") == ["leaf"], result.stdout
    leaf = entries(project)["leaf"]
    assert leaf["version"] == "1.0.1" and leaf["released"] is True
    assert registry.digest(f"{namespace}/leaf", "1.0.1") == leaf["digest"]


def test_releases_in_parallel_put_every_parent_first(
        tmp_path: Path, namespace: str, registry: RegistryProcess) -> None:
    project = tree(tmp_path, namespace)
    result = doit(project, namespace, registry, "-n", "4", "-P", "thread")
    assert ran(result, "release") == sorted(NAMES)
    release_order_ok(result)


# -- the local engine as the release store ---------------------------------------------------

def test_local_release_tags_the_version_and_never_re_points_it(
        tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = tree(tmp_path, namespace)
    result = doit(project, namespace, None)

    assert ran(result, "release") == sorted(NAMES)
    release_order_ok(result)
    found = entries(project)
    assert manifest(project)["registry"] is None
    for name in NAMES:
        entry = found[name]
        version = local_id(docker_client, f"{namespace}/{name}:{entry['version']}")
        assert version is not None, name
        assert version == local_id(docker_client, f"{namespace}/{name}:fp-{entry['fingerprint'][:24]}")
        assert inspect(docker_client, version)["Config"]["Labels"][FINGERPRINT] == entry["fingerprint"]
        assert entry["released"] is True and entry["image_id"] == version
        assert entry["reference"] == f"{namespace}/{name}:{entry['version']}"
    old_leaf = local_id(docker_client, f"{namespace}/leaf:1.0.0")
    old = found["leaf"]["fingerprint"]

    edit_leaf(project, "leaf, changed but not bumped")
    result = doit(project, namespace, None, ok=False)

    assert result.returncode != 0 and ran(result, "build") == []
    message = next(line for line in result.stdout.splitlines() if line.strip().startswith("leaf: version not bumped"))
    new = load_project(project).fingerprints["leaf"].build
    assert "version not bumped" in message and "leaf" in message
    assert old[:24] in message and new[:24] in message
    assert "resources/leaf/resource.yaml" in message
    assert local_id(docker_client, f"{namespace}/leaf:1.0.0") == old_leaf


def test_a_child_is_never_released_before_its_parent(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = tree(tmp_path, namespace)
    result = doit(project, namespace, None, "-n", "4", "-P", "thread")
    assert ran(result, "release") == sorted(NAMES)
    release_order_ok(result)
    released = {name: local_id(docker_client, f"{namespace}/{name}:1.0.0") for name in NAMES}

    # The root changes without a bump; every descendant is bumped. The run stops before building:
    # no descendant may be released on a parent that is not released.
    write(project / "resources" / "root" / "extra.txt", "new file in root\n")
    dockerfile = project / "resources" / "root" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "COPY extra.txt /extra.txt\n")
    for name in ["mid", "side", "leaf"]:
        source = project / "resources" / name / "resource.yaml"
        source.write_text(source.read_text().replace("version: 1.0.0", "version: 2.0.0"))
    result = doit(project, namespace, None, "-n", "4", "-P", "thread", ok=False)

    assert result.returncode != 0
    assert ran(result, "build") == [] and ran(result, "release") == [], result.stdout
    assert "version not bumped" in next(line for line in result.stdout.splitlines()
                                        if line.strip().startswith("root:"))
    for name in ["mid", "side", "leaf"]:
        assert f"!! release:{name}: not run" in result.stdout, name
        assert local_id(docker_client, f"{namespace}/{name}:2.0.0") is None, name
    assert {name: local_id(docker_client, f"{namespace}/{name}:1.0.0") for name in NAMES} == released


# -- known gaps (strict xfails: they start passing when Calvin is fixed) -----------------------

def test_a_test_only_change_records_its_tested_mark_in_the_registry(
        tmp_path: Path, namespace: str, registry: RegistryProcess, docker_client: Any) -> None:
    project = tree(tmp_path, namespace)
    doit(project, namespace, registry)
    first = entries(project)["leaf"]
    write(project / "resources" / "leaf" / "tests.yaml",
          "commands:\n  - name: note\n    run: [cat, /note.txt]\n    stdout: leaf\n")

    result = doit(project, namespace, registry)

    assert ran(result, "build") == [] and ran(result, "test") == ["leaf"], result.stdout
    leaf = entries(project)["leaf"]
    assert leaf["fingerprint"] == first["fingerprint"] and leaf["test_fingerprint"] != first["test_fingerprint"]
    assert mark_of(Fingerprints(build=leaf["fingerprint"], test=leaf["test_fingerprint"])) in \
        registry.tags(f"{namespace}/leaf")

    forget_local(docker_client, namespace, project, [entries(project)[n]["fingerprint"] for n in NAMES])
    result = doit(project, namespace, registry)
    assert ran(result, "test") == [], result.stdout


def test_a_run_with_a_failed_release_still_writes_the_manifest_of_what_it_released(
        tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = tree(tmp_path, namespace)
    doit(project, namespace, None)
    write(project / "resources" / "side" / "note.txt", "side, changed and bumped\n")
    source = project / "resources" / "side" / "resource.yaml"
    source.write_text(source.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    write(project / "resources" / "leaf" / "tests.yaml",
          "commands:\n  - name: fails on purpose\n    run: [cat, /no-such-file]\n")
    (project / "out" / "releases" / "latest.json").unlink()

    result = doit(project, namespace, None, ok=False)

    assert result.returncode != 0 and "FAILED test:leaf" in result.stdout
    assert local_id(docker_client, f"{namespace}/side:1.1.0") is not None  # side was released
    found = entries(project)
    assert found["side"]["version"] == "1.1.0" and found["side"]["released"] is True
    assert found["leaf"]["smoke_tests"]["passed"] is False
