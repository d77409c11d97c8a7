"""The pipeline against the real Docker engine: build what changed, parents first, nothing else.

Each test makes its own tiny project (FROM scratch + a static busybox) under tmp_path and
its own namespace; the `namespace` fixture removes everything made under it.
"""
from __future__ import annotations

import re
import secrets
import subprocess
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from calvin_tasks.project import load_project
from helpers import child_resource, make_project, ran, remove_namespace, root_resource, run_doit

pytestmark = pytest.mark.engine

# a ── b ── c          (b is the middle resource)
#   └─ d
FAMILY: dict[str, str | Path] = {
    **root_resource("a"),
    **child_resource("b", "a"),
    **child_resource("c", "b"),
    **child_resource("d", "a"),
}
NAMES = ["a", "b", "c", "d"]
PARENTS = {"b": "a", "c": "b", "d": "a"}


# -- helpers -------------------------------------------------------------------------------------

def new_project(root: Path, files: dict[str, str | Path], salt: str) -> Path:
    """make_project, with a first step of the roots' Dockerfiles of this test's own.

    The engine's build cache is shared: without the salt, another session's cleanup (which
    prunes dangling images) can delete a cached step of an identical tiny image while this
    test's build is using it ("failed to get digest ...")."""
    salted: dict[str, str | Path] = {}
    for path, content in files.items():
        if path.endswith("/Dockerfile") and isinstance(content, str) and content.startswith("FROM scratch\n"):
            content = content.replace("FROM scratch\n", f"FROM scratch\nLABEL calvin.test-salt={salt}\n", 1)
        salted[path] = content
    return make_project(root, salted)


@pytest.fixture
def salt() -> str:
    return secrets.token_hex(6)


def builds_in_order(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The resources built by this run, in the order doit started them."""
    return [line[len(".  build:"):].strip() for line in result.stdout.splitlines() if line.startswith(".  build:")]


def engine_tags(client: Any, namespace: str, *, content: bool = True) -> dict[str, str]:
    """Every `<namespace>/<name>:fp-…` content tag in the engine (with content=False, every tag of the
    namespace: release and tested tags too), with the image id it points to."""
    tags: dict[str, str] = {}
    for image in client.api.images():  # one call: images.list() inspects each image, racing other sessions
        for tag in image.get("RepoTags") or ():
            if tag.startswith(f"{namespace}/") and (":fp-" in tag or not content):
                tags[tag] = image["Id"]
    return tags


def engine_images(client: Any, namespace: str) -> set[str]:
    """The ids of every image tagged in the namespace."""
    return set(engine_tags(client, namespace, content=False).values())


def bump(project: Path, *names: str, version: str = "1.0.1") -> None:
    """A new version for each resource whose image changes: released versions are immutable."""
    for name in names:
        path = project / "resources" / name / "resource.yaml"
        path.write_text(re.sub(r"^version: .*$", f"version: {version}", path.read_text(), flags=re.M))


def content_tags(root: Path, namespace: str) -> dict[str, str]:
    """Each resource's content tag, as Calvin computes it from the files."""
    project = load_project(root)
    return {name: f"{namespace}/{name}:{fp.content_tag}" for name, fp in project.fingerprints.items()}


def build_fingerprints(root: Path) -> dict[str, str]:
    return {name: fp.build for name, fp in load_project(root).fingerprints.items()}


def resource_of(tag: str) -> str:
    return tag.split("/", 1)[1].split(":", 1)[0]


def engine_builds(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The resources the engine holds a new image for: a tag that is new or moved, to an id not seen before."""
    seen = set(before.values())
    fresh = [tag for tag, image in after.items() if before.get(tag) != image and image not in seen]
    return sorted(resource_of(tag) for tag in fresh)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """The run's failures first (pytest cuts long messages), then its whole output."""
    failures = "\n".join(line for line in result.stdout.splitlines() if line.startswith("FAILED "))
    return (f"exit {result.returncode}\n{failures}\n--- stderr\n{result.stderr}\n"
            f"--- stdout\n{result.stdout}")


# The engine lost an image in the middle of a build: what a concurrent `docker image prune` does to a
# classic build's not-yet-referenced steps (other test sessions on this engine prune at teardown).
ENGINE_RACE = re.compile(r"failed to get digest sha256:|failed to get destination image|No such image: sha256:"
                         r"|layer does not exist|unknown parent image ID")
FAILED_STEP = re.compile(r"^FAILED ((?:[a-z]+:)?[a-z0-9][a-z0-9.-]*): (.*)$")


def run_calvin(project: Path, *args: str, namespace: str) -> subprocess.CompletedProcess[str]:
    """run_doit; a run that an image pruned away by someone else broke is carried on by the next run
    (as a user would), at most twice, with a warning. The merged output counts each step once."""
    def failures(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
        found = (FAILED_STEP.match(line) for line in result.stdout.splitlines())
        return {match.group(1): match.group(2) for match in found if match}

    attempts = [run_doit(project, *args, namespace=namespace)]
    while len(attempts) < 3 and any(ENGINE_RACE.search(m) for m in failures(attempts[-1]).values()):
        warnings.warn(f"engine race, carrying on with another doit run: {failures(attempts[-1])}")
        attempts.append(run_doit(project, *args, namespace=namespace))
    if len(attempts) == 1:
        return attempts[0]
    stdout: list[str] = []
    for attempt in attempts[:-1]:  # keep the steps that succeeded; the last run redoes the others
        failed = failures(attempt)
        stdout += [line for line in attempt.stdout.splitlines()
                   if not (line.startswith(".  ") and line[3:].strip() in failed)
                   and not line.startswith(("FAILED ", "  FAILED ", "calvin: "))]
    stdout += attempts[-1].stdout.splitlines()
    last = attempts[-1]
    return subprocess.CompletedProcess(last.args, last.returncode, "\n".join(stdout) + "\n",
                                       "".join(a.stderr for a in attempts))


def doit_ok(project: Path, *args: str, namespace: str) -> subprocess.CompletedProcess[str]:
    result = run_calvin(project, *args, namespace=namespace)
    assert result.returncode == 0, explain(result)
    assert "Traceback" not in output(result), explain(result)
    return result


def assert_parents_first(order: list[str], parents: dict[str, str]) -> None:
    for child, parent in parents.items():
        if child in order and parent in order:
            assert order.index(parent) < order.index(child), f"{parent} must be built before {child}: {order}"


@pytest.fixture
def family(tmp_path: Path, salt: str) -> Path:
    return new_project(tmp_path / "project", FAMILY, salt)


@pytest.fixture
def built(family: Path, namespace: str) -> Path:
    """The family, built once."""
    result = doit_ok(family, namespace=namespace)
    assert ran(result, "build") == NAMES, explain(result)
    return family


@pytest.fixture
def other_namespace(docker_client: Any) -> Iterator[str]:
    name = f"calvin-test-{secrets.token_hex(4)}"
    yield name
    remove_namespace(docker_client, name)


# -- (a) (b) (d): build everything once, then nothing ---------------------------------------------

def test_first_run_builds_every_resource_parents_first(family: Path, namespace: str, docker_client: Any) -> None:
    result = doit_ok(family, namespace=namespace)
    order = builds_in_order(result)
    assert sorted(order) == NAMES, explain(result)
    assert order[0] == "a"
    assert_parents_first(order, PARENTS)
    # every build's test ran before the child's build started
    lines = result.stdout.splitlines()
    for child, parent in PARENTS.items():
        assert lines.index(f".  test:{parent}") < lines.index(f".  build:{child}"), explain(result)
    tags = engine_tags(docker_client, namespace)
    expected = content_tags(family, namespace)
    assert set(expected.values()) <= set(tags), (expected, tags)


def test_second_run_builds_nothing(built: Path, namespace: str, docker_client: Any) -> None:
    before, images = engine_tags(docker_client, namespace), engine_images(docker_client, namespace)
    result = doit_ok(built, namespace=namespace)
    assert ran(result, "build") == [], explain(result)
    assert ran(result, "test") == [], explain(result)
    assert engine_tags(docker_client, namespace) == before
    assert engine_images(docker_client, namespace) == images


def test_deleting_doits_database_rebuilds_nothing(built: Path, namespace: str, docker_client: Any) -> None:
    databases = list(built.glob(".doit.sqlite3*"))
    assert databases, "doit kept no database in the project"
    for path in databases:
        path.unlink()
    before, images = engine_tags(docker_client, namespace), engine_images(docker_client, namespace)
    result = doit_ok(built, namespace=namespace)
    assert ran(result, "build") == [], explain(result)
    assert engine_tags(docker_client, namespace) == before
    assert engine_images(docker_client, namespace) == images


# -- (c) a change rebuilds the resource and its descendants, nothing else -------------------------

def test_editing_a_middle_resource_rebuilds_it_and_its_descendants(built: Path, namespace: str,
                                                                   docker_client: Any) -> None:
    before = engine_tags(docker_client, namespace)
    old_tags = content_tags(built, namespace)
    (built / "resources" / "b" / "note.txt").write_text("b, edited\n")
    bump(built, "b", "c")  # c's image changes with its parent's: both are new versions
    new_tags = content_tags(built, namespace)
    assert [name for name in NAMES if old_tags[name] != new_tags[name]] == ["b", "c"]

    result = doit_ok(built, namespace=namespace)
    # counted by doit ...
    assert ran(result, "build") == ["b", "c"], explain(result)
    assert builds_in_order(result) == ["b", "c"], explain(result)
    # ... and by the engine
    after = engine_tags(docker_client, namespace)
    assert engine_builds(before, after) == ["b", "c"]
    for name in ("a", "d"):
        assert after[new_tags[name]] == before[old_tags[name]], f"{name} was rebuilt"
    for name in ("b", "c"):
        assert new_tags[name] in after and new_tags[name] not in before
    # and the rebuilt child sits on the rebuilt parent
    history = [row["Id"] for row in docker_client.api.history(after[new_tags["c"]])]
    assert after[new_tags["b"]] in history
    # then it is all up to date again
    again = doit_ok(built, namespace=namespace)
    assert ran(again, "build") == [], explain(again)


def test_editing_a_leaf_rebuilds_only_the_leaf(built: Path, namespace: str, docker_client: Any) -> None:
    before = engine_tags(docker_client, namespace)
    (built / "resources" / "d" / "note.txt").write_text("d, edited\n")
    bump(built, "d")
    result = doit_ok(built, namespace=namespace)
    assert ran(result, "build") == ["d"], explain(result)
    assert engine_builds(before, engine_tags(docker_client, namespace)) == ["d"]


def test_editing_only_a_smoke_test_rebuilds_nothing(built: Path, namespace: str, docker_client: Any) -> None:
    before, images = engine_tags(docker_client, namespace), engine_images(docker_client, namespace)
    (built / "resources" / "b" / "tests.yaml").write_text(
        "files:\n  - path: /note.txt\n    exists: true\n")
    result = doit_ok(built, namespace=namespace)
    assert ran(result, "build") == [], explain(result)
    assert ran(result, "test") == ["b"], explain(result)
    assert engine_tags(docker_client, namespace) == before
    assert engine_images(docker_client, namespace) == images


# -- (e) a parent rebuilt to the same fingerprint leaves its children alone -----------------------

@pytest.mark.parametrize("how", ["always-execute", "remove-content-tag"])
def test_an_unchanged_parent_rebuilt_leaves_its_children_alone(built: Path, namespace: str, docker_client: Any,
                                                               how: str) -> None:
    tags = content_tags(built, namespace)
    before = engine_tags(docker_client, namespace)
    if how == "always-execute":
        forced = doit_ok(built, "-a", "build:a", namespace=namespace)
        assert ran(forced, "build") == ["a"], explain(forced)
    else:
        docker_client.images.remove(tags["a"])  # b and d still hold its layers: this only untags
        assert tags["a"] not in engine_tags(docker_client, namespace)
    result = doit_ok(built, namespace=namespace)
    expected_builds = [] if how == "always-execute" else ["a"]
    assert ran(result, "build") == expected_builds, explain(result)
    after = engine_tags(docker_client, namespace)
    assert tags["a"] in after
    assert docker_client.images.get(tags["a"]).labels["calvin.fingerprint"] == build_fingerprints(built)["a"]
    for child in ("b", "c", "d"):
        assert after[tags[child]] == before[tags[child]], f"{child} was rebuilt"


# -- (f) parallel builds give the same content ---------------------------------------------------

WIDE: dict[str, str | Path] = {
    **FAMILY,
    **root_resource("e"),
    **child_resource("f", "e"),
    **child_resource("g", "e"),
    **child_resource("h", "d"),
}
WIDE_PARENTS = {**PARENTS, "f": "e", "g": "e", "h": "d"}


def image_content(client: Any, namespace: str) -> dict[str, tuple[str, str, str]]:
    """Per resource: its content tag (less the namespace), fingerprint and parent fingerprint labels."""
    found: dict[str, tuple[str, str, str]] = {}
    for tag, image_id in engine_tags(client, namespace).items():
        if ":fp-" not in tag:
            continue
        labels = client.images.get(image_id).labels
        found[resource_of(tag)] = (tag.split("/", 1)[1], labels["calvin.fingerprint"],
                                   labels["calvin.parent-fingerprint"])
    return found


def test_parallel_run_gives_the_same_content_as_a_serial_run(tmp_path: Path, salt: str, namespace: str, other_namespace: str,
                                                             docker_client: Any) -> None:
    serial_project = new_project(tmp_path / "serial", WIDE, salt)
    parallel_project = new_project(tmp_path / "parallel", WIDE, salt)
    serial = doit_ok(serial_project, namespace=namespace)
    parallel = doit_ok(parallel_project, "-n", "4", "-P", "thread", namespace=other_namespace)
    names = sorted(WIDE_PARENTS.keys() | WIDE_PARENTS.values())
    assert ran(serial, "build") == names, explain(serial)
    assert ran(parallel, "build") == names, explain(parallel)
    assert_parents_first(builds_in_order(parallel), WIDE_PARENTS)
    serial_content = image_content(docker_client, namespace)
    parallel_content = image_content(docker_client, other_namespace)
    assert sorted(serial_content) == names
    assert parallel_content == serial_content
    expected = build_fingerprints(serial_project)
    assert {name: value[1] for name, value in parallel_content.items()} == expected
    # and a second parallel run builds nothing
    again = doit_ok(parallel_project, "-n", "4", "-P", "thread", namespace=other_namespace)
    assert ran(again, "build") == [], explain(again)


# -- (g) labels, and the child really built on the parent ---------------------------------------

LABELLED: dict[str, str | Path] = {
    **root_resource("os", version="2.1.0"),
    "resources/os/resource.yaml": "description: The smallest base there is\ngroup: base\nversion: 2.1.0\n",
    **child_resource("tool", "os", note="tool's note"),
    "resources/tool/resource.yaml": "description: A tool on the base\ngroup: supporting\nversion: 0.3.0-rc.1\n"
                                    "base: os\n",
}


def test_images_carry_their_fingerprint_and_the_oci_labels(tmp_path: Path, salt: str, namespace: str,
                                                           docker_client: Any) -> None:
    project = new_project(tmp_path / "project", LABELLED, salt)
    started = datetime.now(timezone.utc).replace(microsecond=0)
    doit_ok(project, namespace=namespace)
    finished = datetime.now(timezone.utc)
    prints = build_fingerprints(project)
    tags = content_tags(project, namespace)
    expected = {"os": ("2.1.0", "The smallest base there is"), "tool": ("0.3.0-rc.1", "A tool on the base")}
    for name, (version, description) in expected.items():
        image = docker_client.images.get(tags[name])
        assert tags[name] in image.tags
        labels = image.labels
        assert labels["calvin.fingerprint"] == prints[name]
        assert tags[name].endswith(f":fp-{prints[name][:24]}")
        assert labels["org.opencontainers.image.title"] == name
        assert labels["org.opencontainers.image.version"] == version
        assert labels["org.opencontainers.image.description"] == description
        created = datetime.strptime(labels["org.opencontainers.image.created"], "%Y-%m-%dT%H:%M:%SZ")
        created = created.replace(tzinfo=timezone.utc)
        assert started - timedelta(seconds=1) <= created <= finished + timedelta(seconds=1)
    assert docker_client.images.get(tags["os"]).labels["calvin.parent-fingerprint"] == ""
    assert docker_client.images.get(tags["tool"]).labels["calvin.parent-fingerprint"] == prints["os"]


def test_a_child_is_built_on_its_parents_exact_image(tmp_path: Path, salt: str, namespace: str, docker_client: Any) -> None:
    project = new_project(tmp_path / "project", LABELLED, salt)
    doit_ok(project, namespace=namespace)
    tags = content_tags(project, namespace)
    parent = docker_client.images.get(tags["os"])
    child = docker_client.images.get(tags["tool"])
    # the parent's image is in the child's history, and its layers are the child's first layers
    assert parent.id in [row["Id"] for row in docker_client.api.history(child.id)]
    parent_layers = parent.attrs["RootFS"]["Layers"]
    assert child.attrs["RootFS"]["Layers"][:len(parent_layers)] == parent_layers
    # and what the parent put there is in the child
    out = docker_client.containers.run(child.id, ["/bin/busybox", "sh", "-c", "ls /bin/busybox && cat /note.txt"],
                                       remove=True, network_disabled=True,
                                       labels={"calvin.namespace": namespace})
    assert out.decode().splitlines() == ["/bin/busybox", "tool's note"]


# -- (h) doit list -------------------------------------------------------------------------------

LISTED: dict[str, str | Path] = {
    **LABELLED,
    **child_resource("extra", "os"),
    "resources/extra/resource.yaml": "description: 'Build helper: compiles things'\ngroup: build\nversion: 10.20.30\n"
                                     "base: os\n",
}
LISTED_ROWS = {"os": ("base", "2.1.0", "The smallest base there is"),
               "tool": ("supporting", "0.3.0-rc.1", "A tool on the base"),
               "extra": ("build", "10.20.30", "Build helper: compiles things")}


def _assert_listed(result: subprocess.CompletedProcess[str]) -> None:
    lines = result.stdout.splitlines()
    for name, (group, version, description) in LISTED_ROWS.items():
        pattern = re.compile(rf"^{re.escape(name)}\s+{group}\s+container\s+{re.escape(version)}\s+"
                             rf"{re.escape(description)}\s*$")
        assert any(pattern.match(line) for line in lines), f"no list line for {name}:\n{explain(result)}"


def test_doit_list_shows_each_resource_with_group_version_and_description(tmp_path: Path, salt: str, namespace: str,
                                                                          docker_client: Any) -> None:
    project = new_project(tmp_path / "project", LISTED, salt)
    result = doit_ok(project, "list", namespace=namespace)
    _assert_listed(result)
    assert engine_tags(docker_client, namespace, content=False) == {}, "listing built something"


def test_doit_list_needs_no_engine(tmp_path: Path, salt: str, namespace: str) -> None:
    # `make list` does not start an engine: listing must work without one.
    project = new_project(tmp_path / "project", LISTED, salt)
    result = run_doit(project, "list", namespace=namespace, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.returncode == 0, explain(result)
    _assert_listed(result)


# -- (i) a failed build ----------------------------------------------------------------------------

FAILING: dict[str, str | Path] = {
    **root_resource("bad", extra="RUN echo calvin-about-to-fail && exit 1\n"),
    **child_resource("bad-child", "bad"),
    **root_resource("good"),
    **child_resource("good-child", "good"),
}


def test_a_failed_build_fails_the_run_and_blocks_only_its_descendants(tmp_path: Path, salt: str, namespace: str,
                                                                      docker_client: Any) -> None:
    project = new_project(tmp_path / "project", FAILING, salt)
    result = run_calvin(project, namespace=namespace)
    text = output(result)
    assert result.returncode != 0, explain(result)
    assert "Traceback" not in text, explain(result)
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED build:bad")]
    assert failed, explain(result)
    assert "returned a non-zero code: 1" in failed[0], explain(result)
    assert "calvin-about-to-fail" in result.stdout  # the step's own log is shown
    assert ran(result, "build") == ["bad", "good", "good-child"], explain(result)
    tags = engine_tags(docker_client, namespace, content=False)
    assert not [tag for tag in tags if resource_of(tag) in ("bad", "bad-child")], tags
    expected = content_tags(project, namespace)
    assert expected["good"] in tags and expected["good-child"] in tags
    assert re.search(r"\b1 failed\b", result.stdout), explain(result)
    # the next run tries the failed resource again, and only it
    again = run_calvin(project, namespace=namespace)
    assert again.returncode != 0
    assert ran(again, "build") == ["bad"], explain(again)


# -- (j) no engine ---------------------------------------------------------------------------------

def test_a_missing_engine_is_one_clear_message(tmp_path: Path, salt: str, namespace: str, docker_client: Any) -> None:
    project = new_project(tmp_path / "project", FAMILY, salt)
    result = run_doit(project, namespace=namespace, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    text = output(result)
    assert result.returncode != 0, explain(result)
    assert "Traceback" not in text, explain(result)
    assert "Docker engine" in text and "unix:///nonexistent.sock" in text, explain(result)
    failures = {line.split(":", 1)[1].strip() for line in text.splitlines()
                if line.strip().startswith("FAILED ")}
    assert len(failures) == 1, explain(result)  # one message (and its line in the summary), not one per step
    assert "Docker engine" in failures.pop()
    assert ran(result, "build") == [], explain(result)
    assert engine_tags(docker_client, namespace, content=False) == {}


# -- .dockerignore, end to end -----------------------------------------------------------------------

IGNORING: dict[str, str | Path] = {
    **root_resource("ctx"),
    "resources/ctx/Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\nCOPY . /ctx/\n",
    "resources/ctx/.dockerignore": "secret.txt\ncache\n!cache/keep.txt\n**/*.tmp\n",
    "resources/ctx/keep.txt": "keep\n",
    "resources/ctx/secret.txt": "never in the image\n",
    "resources/ctx/cache/keep.txt": "re-included\n",
    "resources/ctx/cache/drop.txt": "dropped\n",
    "resources/ctx/deep/er/x.tmp": "dropped\n",
    "resources/ctx/tests.yaml": "files:\n  - path: /ctx/keep.txt\n    exists: true\n",
}


def test_dockerignore_is_honoured_by_the_build_and_the_fingerprint(tmp_path: Path, salt: str, namespace: str,
                                                                   docker_client: Any) -> None:
    project = new_project(tmp_path / "project", IGNORING, salt)
    first = doit_ok(project, namespace=namespace)
    assert ran(first, "build") == ["ctx"], explain(first)
    image = content_tags(project, namespace)["ctx"]
    listing = docker_client.containers.run(image, ["/bin/busybox", "find", "/ctx"], remove=True,
                                           network_disabled=True, labels={"calvin.namespace": namespace})
    assert sorted(listing.decode().split()) == sorted([
        "/ctx", "/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/busybox", "/ctx/keep.txt", "/ctx/cache",
        "/ctx/cache/keep.txt", "/ctx/deep", "/ctx/deep/er"])  # no resource.yaml, tests, ignored files
    before = engine_tags(docker_client, namespace)
    for path in ("secret.txt", "cache/drop.txt", "deep/er/x.tmp"):
        (project / "resources" / "ctx" / path).write_text("edited, still ignored\n")
    quiet = doit_ok(project, namespace=namespace)
    assert ran(quiet, "build") == [], explain(quiet)
    assert engine_tags(docker_client, namespace) == before
    (project / "resources" / "ctx" / "cache" / "keep.txt").write_text("re-included, edited\n")
    bump(project, "ctx")
    rebuilt = doit_ok(project, namespace=namespace)
    assert ran(rebuilt, "build") == ["ctx"], explain(rebuilt)


# -- label values survive the Dockerfile ------------------------------------------------------------

@pytest.mark.parametrize("description", [
    'Says "hi", with a back\\slash and 100% sure',
    "Base Linux — Debian, café",
    "Costs $5 for $HOME users",
], ids=["quotes-backslash", "non-ascii", "dollar"])
def test_the_description_label_is_the_description(tmp_path: Path, salt: str, namespace: str, docker_client: Any,
                                                  description: str) -> None:
    import json

    files = dict(root_resource("a"))
    files["resources/a/resource.yaml"] = (f"description: {json.dumps(description)}\ngroup: base\n"
                                          "version: 1.0.0\n")
    project = new_project(tmp_path / "project", files, salt)
    assert load_project(project).resources["a"].description == description
    doit_ok(project, namespace=namespace)
    labels = docker_client.images.get(content_tags(project, namespace)["a"]).labels
    assert labels["org.opencontainers.image.description"] == description


def test_a_released_version_carries_its_own_version_label(tmp_path: Path, salt: str, namespace: str,
                                                          docker_client: Any) -> None:
    project = new_project(tmp_path / "project", dict(root_resource("a")), salt)
    doit_ok(project, namespace=namespace)
    bump(project, "a", version="1.0.1")
    result = doit_ok(project, namespace=namespace)
    assert ran(result, "build") == ["a"], explain(result)  # a new label: a new image, from the layer cache
    released = docker_client.images.get(f"{namespace}/a:1.0.1")
    assert released.labels["org.opencontainers.image.version"] == "1.0.1"
