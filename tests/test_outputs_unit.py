"""Truthful, complete outputs (issue 11, Deliver 5) and the validation gaps (Deliver 7), without a
daemon: the release manifest and JUnit reports over whole in-process doit runs against the fake
engine; files' modes; the source revision; `doit dumpdb`; what an image exposes; URL schemes."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from calvin_tasks import dockerfile, exposure, revision
from calvin_tasks.engine import ImageInfo
from calvin_tasks.errors import InputError
from calvin_tasks.files import write_atomic
from calvin_tasks.manifest import build_seconds
from calvin_tasks.model import ConfigKey
from calvin_tasks.environments import _type_problem
from calvin_tasks.project import load_project
from helpers import DOIT, make_project
from test_plan_equals_run import World, resource_files


def entries(root: Path, output: str = "out") -> dict[str, dict[str, Any]]:
    document = json.loads((root / output / "releases" / "latest.json").read_text())
    return {entry["resource"]: entry for entry in document["resources"]}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> World:
    files: dict[str, str | bytes | Path] = {}
    files.update(resource_files("root", None))
    files.update(resource_files("leaf", "root"))
    make_project(tmp_path, files)
    return World(tmp_path, monkeypatch, capsys)


# -- the manifest says what this run did ---------------------------------------------------------------

def test_a_first_run_releases_and_the_next_carries_over_with_the_earlier_pass(world: World) -> None:
    first = world.doit()
    assert first.code == 0, first.output
    released = entries(world.root)
    for name in ("root", "leaf"):
        entry = released[name]
        assert (entry["action"], entry["released_by_this_run"], entry["released"]) == ("released", True, True)
        assert entry["pending"] is None
        assert entry["image_id"] == world.daemon.tags[f"calvin/{name}:1.0.0"]
        assert entry["smoke_tests"]["this_run"] is True and entry["smoke_tests"]["passed"] is True

    again = world.doit()

    assert again.code == 0, again.output
    carried = entries(world.root)
    for name in ("root", "leaf"):
        entry = carried[name]
        assert (entry["action"], entry["released_by_this_run"]) == ("carried over", False), entry
        assert entry["image_id"] == released[name]["image_id"]
        tests = entry["smoke_tests"]
        assert tests["this_run"] is False and tests["passed"] is True
        assert tests["time"] == released[name]["smoke_tests"]["time"]  # when it passed …
        assert tests["host"] == released[name]["smoke_tests"]["host"] and tests["host"]  # … and where
        assert "out/state/tests" in tests["where"]


def test_after_a_blocked_release_the_version_lists_the_released_image_and_the_new_one_is_pending(
        world: World) -> None:
    assert world.doit().code == 0
    before = entries(world.root)["root"]
    with (world.root / "resources" / "root" / "note.txt").open("a") as handle:
        handle.write("changed, not bumped\n")
    assert world.doit("build:root", "test:root").code == 0  # tried out before choosing a version

    result = world.doit()

    assert result.code != 0
    entry = entries(world.root)["root"]
    assert entry["action"] == "not released" and entry["released"] is False
    assert entry["released_by_this_run"] is False
    # the version's entry is what the version tag holds: the old image, never the new one
    assert entry["image_id"] == before["image_id"] == world.daemon.tags["calvin/root:1.0.0"]
    assert entry["fingerprint"] == before["fingerprint"]
    new = load_project(world.root).fingerprints["root"]
    pending = entry["pending"]
    assert pending["fingerprint"] == new.build != before["fingerprint"]
    assert pending["image"] == world.daemon.tags[f"calvin/root:{new.content_tag}"] != entry["image_id"]
    assert pending["smoke_tests"]["passed"] is True


def test_a_fresh_output_folder_still_gets_a_junit_report_per_resource(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.doit().code == 0
    monkeypatch.setenv("CALVIN_OUTPUT", "ci-out")  # a fresh CI workspace on the same engine

    result = world.doit()

    assert result.code == 0, result.output
    for name in ("root", "leaf"):
        suite = ET.parse(world.root / "ci-out" / "reports" / f"{name}.junit.xml").getroot().find("testsuite")
        assert suite is not None and suite.get("timestamp") and suite.get("hostname")
        properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert properties["calvin.reused"] == "true"
        assert "release store" in properties["calvin.source"]
        cases = suite.findall("testcase")
        assert cases and all(case.find("failure") is None for case in cases)
        assert "passed in an earlier run" in (cases[0].findtext("system-out") or "")
        entry = entries(world.root, "ci-out")[name]
        assert entry["smoke_tests"]["passed"] is True and entry["smoke_tests"]["this_run"] is False


def test_reports_and_manifests_are_world_readable(world: World) -> None:
    assert world.doit().code == 0
    written = list((world.root / "out" / "reports").iterdir()) + list((world.root / "out" / "releases").iterdir())
    assert written
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, (path, oct(path.stat().st_mode))


def test_write_atomic_gives_the_mode_of_a_plain_write(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    write_atomic(tmp_path / "atomic", "x")
    assert stat.S_IMODE((tmp_path / "atomic").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_the_build_duration_is_read_from_the_image() -> None:
    info = ImageInfo("sha256:1", (), {"org.opencontainers.image.created": "2026-12-01T10:00:00Z"}, 10,
                     "2026-12-01T10:01:04.512345678Z")
    assert build_seconds(info) == 64.5
    assert build_seconds(ImageInfo("sha256:1", (), {}, 10, "2026-12-01T10:01:04Z")) is None


# -- source revision ---------------------------------------------------------------------------------------

def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_source_revision_is_the_commit_and_says_when_the_tree_differs(tmp_path: Path) -> None:
    assert revision.source_revision.__wrapped__(tmp_path) is None  # type: ignore[attr-defined]
    git(tmp_path, "init", "-q")
    (tmp_path / "a").write_text("a\n")
    git(tmp_path, "add", "a")
    git(tmp_path, "commit", "-qm", "one")
    git(tmp_path, "remote", "add", "origin", "https://user:secret@example.invalid/calvin.git")
    commit = git(tmp_path, "rev-parse", "HEAD")

    clean = revision.source_revision.__wrapped__(tmp_path)  # type: ignore[attr-defined]
    (tmp_path / "a").write_text("changed\n")
    dirty = revision.source_revision.__wrapped__(tmp_path)  # type: ignore[attr-defined]

    assert clean == revision.Revision(commit, False, "https://example.invalid/calvin.git")
    assert dirty is not None and dirty.dirty and dirty.label == f"{commit}-dirty"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_project_in_a_subfolder_or_with_git_dir_still_finds_its_commit(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    repository, project = tmp_path / "repository", tmp_path / "elsewhere"
    repository.mkdir(), project.mkdir()
    (repository / "sub").mkdir()
    git(repository, "init", "-q")
    git(repository, "commit", "-q", "--allow-empty", "-m", "one")
    commit = git(repository, "rev-parse", "HEAD")
    found = revision.source_revision.__wrapped__(repository / "sub")  # type: ignore[attr-defined]
    assert found is not None and found.commit == commit  # the .git is found above the project
    assert revision.source_revision.__wrapped__(project) is None  # type: ignore[attr-defined]
    monkeypatch.setenv("GIT_DIR", str(repository / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(repository))
    found = revision.source_revision.__wrapped__(project)  # type: ignore[attr-defined]
    assert found is not None and found.commit == commit  # git's own variable names the repository


def test_labels_carry_the_revision_but_the_fingerprint_does_not(tmp_path: Path) -> None:
    from calvin_tasks.build import labels_for

    make_project(tmp_path, resource_files("root", None))
    before = load_project(tmp_path)
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "one")
    revision.source_revision.cache_clear()
    after = load_project(tmp_path)

    assert after.fingerprints == before.fingerprints
    assert labels_for(after, "root")["org.opencontainers.image.revision"] == git(tmp_path, "rev-parse", "HEAD")


# -- doit dumpdb ---------------------------------------------------------------------------------------------

def test_dumpdb_reads_calvins_sqlite3_database(tmp_path: Path) -> None:
    make_project(tmp_path, resource_files("root", None))
    subprocess.run([*DOIT, "list"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    import sqlite3

    connection = sqlite3.connect(tmp_path / ".doit.sqlite3")
    connection.execute("insert or replace into doit values (?, ?)", ("build:root", json.dumps({"x": 1})))
    connection.commit()
    connection.close()

    done = subprocess.run([*DOIT, "dumpdb"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "DBM type is 'sqlite3'" in done.stdout and "build:root -> {'x': 1}" in done.stdout


# -- validation gaps -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("image", "named"), [
    ("debian", "debian"), ("debian:bookworm", None), ("debian:latest", None), ("debian@sha256:00", None),
    ("calvin/debian:1.0.0", "debian"), ("127.0.0.1:5000/calvin/debian:fp-1", "debian"),
    ("library/debian", None), ("docker.io/library/debian:12", None), ("ubuntu", None)])
def test_which_references_name_a_resource(image: str, named: str | None) -> None:
    assert dockerfile.resource_named(image, {"debian"}) == named


@pytest.mark.parametrize(("text", "ports", "inherits"), [
    ("FROM scratch\nEXPOSE 80 443/udp\n", {"80/tcp", "443/udp"}, False),
    ("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nEXPOSE 8000-8002\n", {"8000/tcp", "8001/tcp", "8002/tcp"}, True),
    ("FROM scratch AS one\nEXPOSE 1\nFROM one\nEXPOSE 2\n", {"1/tcp", "2/tcp"}, False),
    ("FROM scratch AS one\nEXPOSE 1\nFROM scratch\nEXPOSE 2\n", {"2/tcp"}, False)])
def test_what_a_dockerfile_exposes(tmp_path: Path, text: str, ports: set[str], inherits: bool) -> None:
    (tmp_path / "Dockerfile").write_text(text)
    found, from_base = exposure.own_exposure(tmp_path / "Dockerfile")
    assert (set(found.ports), found.known, from_base) == (ports, True, inherits)


def test_an_expose_with_a_variable_is_not_judged(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nARG PORT=80\nEXPOSE $PORT\n")
    assert not exposure.own_exposure(tmp_path / "Dockerfile")[0].known


def test_a_service_check_on_a_port_the_parent_exposes_is_accepted(tmp_path: Path) -> None:
    files: dict[str, str | bytes | Path] = {}
    files.update(resource_files("root", None))
    files.update(resource_files("leaf", "root"))
    files["resources/root/Dockerfile"] = "FROM scratch\nCOPY note.txt /note.txt\nEXPOSE 8080\n"
    files["resources/leaf/tests.yaml"] = "services:\n  - name: up\n    port: 8080\n  - name: other\n    port: 81\n"
    make_project(tmp_path, files)

    with pytest.raises(InputError) as raised:
        load_project(tmp_path)

    [problem] = raised.value.problems
    assert (problem.file, problem.line) == ("resources/leaf/tests.yaml", 4)
    assert "port 81/tcp" in problem.message and "8080/tcp" in problem.message


def test_a_url_must_have_a_scheme_the_image_accepts() -> None:
    key = ConfigKey("upstream", "url", schemes=("http", "https"))
    assert _type_problem(key, "https://api:9000") is None
    assert "scheme http or https" in (_type_problem(key, "tcp://api:9000") or "")
    assert _type_problem(ConfigKey("upstream", "url"), "tcp://api:9000") is None


def test_the_run_facts_read_the_plans_release_decisions(tmp_path: Path) -> None:
    from calvin_tasks.manifest import RunFacts
    from calvin_tasks.plan import Decision, Plan, release_status
    from calvin_tasks.store import Released, Shelf

    make_project(tmp_path, {**resource_files("a", None), **resource_files("b", None), **resource_files("c", None)})
    project = load_project(tmp_path)
    image = Released("calvin/x:1.0.0", "f" * 64, "sha256:1", "sha256:1")
    unmarked = release_status(Shelf(version=image, content=image, tested=None), "f" * 64)
    unreleased = release_status(Shelf(version=None, content=None, tested=None), "f" * 64)
    assert unmarked[0] == "unmarked" and unreleased[0] == "unreleased"

    facts = RunFacts.from_plan(project, Plan([
        Decision("a", "test", False, "passed"), Decision("a", "release", False, "a:1.0.0 is released"),
        Decision("b", "test", True, "new"), Decision("b", "release", True, f"b:1.0.0 {unmarked[1]}"),
        Decision("c", "test", True, "new"), Decision("c", "release", True, f"c:1.0.0 {unreleased[1]}")]))

    assert facts.tested_before == {"a"}
    assert facts.released_before == {"a", "b"}  # b's version held this content: only its mark was added
