"""`doit why`: records of what each built fingerprint covered, compared with the inputs now — files,
build settings, the parent chain, version, smoke tests — and `doit info` showing the inputs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from calvin_tasks.project import load_project
from calvin_tasks.tasks.steps import Described
from calvin_tasks.why import changes, compare, explain, inputs_of, last_built, recorded, remember
from fakes import Daemon
from helpers import make_project
from inprocess import doit_here


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"version": "1.0.0", "build": {"builder": "docker", "dockerfile": "Dockerfile", "args": {}},
                            "parent": None, "files": {"Dockerfile": "file - aa", "run.sh": "file x bb"},
                            "tests": {"tests.yaml": "file - cc"}, "fingerprints": {"build": "1"}}
    return {**base, **fields}


def nothing(name: str, fingerprint: str) -> None:
    return None


def test_changes_names_files_settings_version_and_tests() -> None:
    old = record()
    new = record(version="1.1.0", files={"Dockerfile": "file - a2", "run.sh": "file - bb", "new.txt": "file - dd"},
                 build={"builder": "docker", "dockerfile": "Dockerfile", "args": {"USER": "calvin"}},
                 tests={"tests.yaml": "file - c2", "test_web.py": "file - ee"}, fingerprints={"build": "2"})
    assert changes(old, new, recorded=nothing, current=lambda n: {}) == [
        "files changed: Dockerfile, run.sh",  # run.sh lost its executable bit
        "files added: new.txt",
        "build settings changed: args.USER",
        "version 1.0.0 → 1.1.0",
        "smoke tests changed: tests.yaml",
        "smoke tests added: test_web.py",
    ]
    gone = record(files={"Dockerfile": "file - aa"}, fingerprints={"build": "3"})
    assert changes(old, gone, recorded=nothing, current=lambda n: {}) == ["files removed: run.sh"]
    assert changes(old, old, recorded=nothing, current=lambda n: {}) == []


def test_a_changed_parent_is_followed_up_to_the_ancestor_that_changed() -> None:
    """leaf's parent scm did not change itself; curl under it did — its version bump is not content."""
    earlier = {
        ("scm", "s1"): record(parent={"name": "curl", "build": "c1", "content": "cc1"}),
        ("curl", "c1"): record(parent={"name": "root", "build": "r1", "content": "rc1"}),
    }
    now = {
        "scm": record(parent={"name": "curl", "build": "c2", "content": "cc2"}),
        "curl": record(version="1.0.1", files={"Dockerfile": "file - new", "run.sh": "file x bb"},
                       parent={"name": "root", "build": "r1", "content": "rc1"}),
    }
    old = record(parent={"name": "scm", "build": "s1", "content": "sc1"})
    new = record(parent={"name": "scm", "build": "s2", "content": "sc2"})
    found = changes(old, new, recorded=lambda n, fp: earlier.get((n, fp)), current=now.__getitem__)
    assert found == ["parent changed: scm ← curl (files changed: Dockerfile)"]
    # an ancestor built elsewhere cannot be compared: said so, not guessed
    assert changes(old, new, recorded=nothing, current=now.__getitem__) == [
        "parent changed: scm (its earlier inputs were not recorded here)"]
    # a new parent is named as such
    moved = record(parent={"name": "curl", "build": "c2", "content": "cc2"})
    assert changes(old, moved, recorded=nothing, current=now.__getitem__) == ["parent scm → curl"]


def chain(root: Path) -> Path:
    files: dict[str, str | bytes | Path] = {}
    for name, base in (("root", None), ("curl", "root"), ("scm", "curl")):
        files[f"resources/{name}/resource.yaml"] = (f"description: {name}\ngroup: build\nversion: 1.0.0\n"
                                                    + (f"base: {base}\n" if base else ""))
        files[f"resources/{name}/Dockerfile"] = ("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n" if base else "FROM scratch\n")
        files[f"resources/{name}/note.txt"] = f"{name}\n"
    return make_project(root, files, pipeline="namespace: calvin\n")


def test_compare_reads_the_record_of_the_released_image_or_the_last_built(tmp_path: Path) -> None:
    root = chain(tmp_path / "p")
    first = load_project(root)
    for name in first.order:
        remember(first, name)
    released = {name: fp.build for name, fp in first.fingerprints.items()}
    stored = recorded(first.settings, "scm", released["scm"])
    assert stored is not None and stored["files"] == inputs_of(first, "scm")["files"]
    assert explain(first, "scm", released["scm"]) == "no input changed since scm:1.0.0 in the release store"

    (root / "resources" / "root" / "note.txt").write_text("root, changed\n")
    (root / "resources" / "root" / "extra.txt").write_text("new\n")
    now = load_project(root)
    assert explain(now, "scm", released["scm"]) == (
        "since scm:1.0.0 in the release store: parent changed: curl ← root (files changed: note.txt; "
        "files added: extra.txt)")
    # a version not released yet is compared with the image built here last
    answer = compare(now, "root", None)
    assert answer.since.startswith("the image built here last (1.0.0, ")
    assert answer.changes == ("files changed: note.txt", "files added: extra.txt")
    # a release from elsewhere, never built here: said, then the last image built here instead
    assert explain(now, "curl", "f" * 64).startswith(
        f"curl:1.0.0 was released as fp-{'f' * 24}, built elsewhere: its inputs were not recorded here; since the image")
    # nothing to compare with at all
    assert str(compare(now, "root", None).since) and last_built(now.settings, "nobody") is None
    (root / "out" / "state" / "inputs" / "root").rename(root / "out" / "moved")
    assert explain(now, "root", None) == "no earlier image of it was built here"


def test_a_damaged_record_is_ignored(tmp_path: Path) -> None:
    root = chain(tmp_path / "p")
    project = load_project(root)
    remember(project, "root")
    path = root / "out" / "state" / "inputs" / "root" / f"{project.fingerprints['root'].build}.json"
    assert json.loads(path.read_text())["resource"] == "root"
    path.write_text("{not json")
    assert recorded(project.settings, "root", project.fingerprints["root"].build) is None
    # the fingerprint comes from an image label: never read as a path
    (root / "out" / "state" / "inputs" / "secret.json").write_text(path.read_text())
    assert recorded(project.settings, "root", "../secret") is None


def test_described_inputs_read_as_text(tmp_path: Path) -> None:
    project = load_project(chain(tmp_path / "p"))
    text = repr(Described(project, "curl"))
    assert f"build {project.fingerprints['curl'].build[:24]}" in text
    assert f"parent root (content {project.fingerprints['root'].content[:24]})" in text
    assert "    Dockerfile  file - " in text and "    note.txt  file - " in text
    assert "smoke tests: none" in text


# -- in-process doit: why and info -----------------------------------------------------------------

def doit(root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], daemon: Daemon,
         *args: str) -> tuple[int, str]:
    return doit_here(root, daemon, monkeypatch, capsys, *args)


def test_doit_why_and_doit_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    root, daemon = chain(tmp_path / "p"), Daemon()
    run: Any = lambda *args: doit(root, monkeypatch, capsys, daemon, *args)  # noqa: E731
    assert run()[0] == 0
    code, out = run("why")
    assert code == 0 and "nothing to do: 3 resources up to date" in out, out

    (root / "resources" / "curl" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nLABEL x=y\n")
    code, out = run("why", "scm")
    assert code == 0, out
    assert "release:scm" in out and "blocked" in out
    assert "  changed since scm:1.0.0 in the release store:\n    - parent changed: curl (files changed: Dockerfile)\n" in out

    code, out = run("why")  # every resource with a step to run: curl and scm
    assert "curl 1.0.0" in out and "scm 1.0.0" in out and "root 1.0.0" not in out
    assert "    - files changed: Dockerfile\n" in out

    code, out = run("why", "nope")
    assert code != 0 and "no resource named nope" in out

    code, out = run("info", "build:curl")
    assert "<function" not in out
    assert "Dockerfile  file - " in out and "note.txt  file - " in out and "parent root (content " in out
