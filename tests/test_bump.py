"""`doit bump`: the next version, the one-line edit that keeps the file as written, the descendants a
cascade bumps, the command the release gate names — and whole `doit bump` runs in this process
against the in-memory engine (tests/fakes.py)."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from calvin_tasks.bump import bump_command, edit_version, next_version, plan_bumps
from calvin_tasks.errors import InputError
from calvin_tasks.model import version_order
from calvin_tasks.project import load_project
from fakes import Daemon
from helpers import make_project
from inprocess import doit_here


@pytest.mark.parametrize(("version", "part", "expected"), [
    ("1.2.3", "patch", "1.2.4"), ("1.2.3", "minor", "1.3.0"), ("1.2.3", "major", "2.0.0"),
    ("0.9.9", "patch", "0.9.10"), ("1.3.0-rc.1", "patch", "1.3.0"), ("1.3.0-rc.1", "minor", "1.3.0"),
    ("1.3.1-rc.1", "minor", "1.4.0"), ("2.0.0-beta", "major", "2.0.0"), ("2.1.0-beta", "major", "3.0.0"),
])
def test_next_version_follows_semantic_versioning(version: str, part: str, expected: str) -> None:
    assert next_version(version, part) == expected


def test_next_version_refuses_what_is_not_a_version_or_a_part() -> None:
    with pytest.raises(ValueError):
        next_version("1.2", "patch")
    with pytest.raises(ValueError):
        next_version("1.2.3", "build")


RESOURCE_YAML = """\
# The build executor.   (a comment the person wrote)
description: Build executor
group: build
version: '1.0.0'    # bumped by `doit bump`
base: base-linux
build:
  args: {VERSION: 1.0.0}
"""


def test_edit_version_changes_only_the_version_scalar() -> None:
    edited = edit_version(RESOURCE_YAML, 4, "1.0.0", "1.0.1")
    assert edited == RESOURCE_YAML.replace("version: '1.0.0'", "version: '1.0.1'")
    assert "{VERSION: 1.0.0}" in (edited or "")  # the same text elsewhere is left alone
    crlf = RESOURCE_YAML.replace("\n", "\r\n")
    assert edit_version(crlf, 4, "1.0.0", "2.0.0") == crlf.replace("'1.0.0'", "'2.0.0'", 1)
    assert edit_version("version: \"1.0.0\"\n", 1, "1.0.0", "1.1.0") == "version: \"1.1.0\"\n"


def test_edit_version_gives_up_rather_than_guess() -> None:
    assert edit_version(RESOURCE_YAML, 3, "1.0.0", "1.0.1") is None      # not the version's line
    assert edit_version(RESOURCE_YAML, 4, "1.0.1", "1.0.2") is None      # not the version written there
    assert edit_version("version: 1.0.0-rc\n", 1, "1.0.0", "1.0.1") is None  # 1.0.0 is only a prefix
    assert edit_version(RESOURCE_YAML, 99, "1.0.0", "1.0.1") is None


# -- a tree: a ── b ── c,  a ── d,  e (alone) ----------------------------------------------------------

def resource(name: str, base: str | None, version: str = "1.0.0") -> dict[str, str]:
    return {
        f"resources/{name}/resource.yaml": f"# {name}\ndescription: {name}\ngroup: build\n"
                                           f"version: {version}   # the release tag\n"
                                           + (f"base: {base}\n" if base else ""),
        f"resources/{name}/Dockerfile": ("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n" if base else "FROM scratch\n")
                                        + "COPY note.txt /note.txt\n",
        f"resources/{name}/note.txt": f"{name}\n",
    }


TREE = {"a": None, "b": "a", "c": "b", "d": "a", "e": None}


def tree(root: Path, pipeline: str = "namespace: calvin\n") -> Path:
    files: dict[str, str | bytes | Path] = {}
    for name, base in TREE.items():
        files.update(resource(name, base))
    return make_project(root, files, pipeline=pipeline)


def test_a_cascade_bumps_the_descendants_released_with_other_content(tmp_path: Path) -> None:
    project = load_project(tree(tmp_path / "p"))
    fingerprints = {n: f.build for n, f in project.fingerprints.items()}
    # b and c are released with other content; d's 1.0.0 holds exactly its current inputs; nothing
    # of e is asked about (not a descendant)
    released = {"b": "old", "c": "old", "d": fingerprints["d"], "e": "old"}
    bumps = plan_bumps(project, ["a"], part="minor", cascade=True, released=released.get)
    assert [(b.resource, b.old, b.new, b.why) for b in bumps] == [
        ("a", "1.0.0", "1.1.0", "asked"), ("b", "1.0.0", "1.0.1", "parent a bumped"),
        ("c", "1.0.0", "1.0.1", "parent a bumped")]
    # a descendant whose version is not released yet is left as it is
    assert [b.resource for b in plan_bumps(project, ["a"], part="patch", cascade=True,
                                           released={"b": None, "c": "old"}.get)] == ["a", "c"]
    assert [b.resource for b in plan_bumps(project, ["a"], part="patch", cascade=False,
                                           released=released.get)] == ["a"]


def test_bump_names_a_missing_resource_with_the_known_ones(tmp_path: Path) -> None:
    project = load_project(tree(tmp_path / "p"))
    with pytest.raises(InputError) as caught:
        plan_bumps(project, ["a", "zz"], part="patch", cascade=False, released=lambda n: None)
    assert "no resource named 'zz'" in str(caught.value) and "resources: a, b, c, d, e" in str(caught.value)


def test_the_release_gate_names_one_command_for_every_unbumped_resource(tmp_path: Path) -> None:
    project = load_project(tree(tmp_path / "p"))
    assert bump_command(project, ["a", "b", "c"]) == "doit bump a --cascade"
    assert bump_command(project, ["b", "c", "e"]) == "doit bump b e --cascade"
    assert bump_command(project, ["c", "d"]) == "doit bump c d"


# -- whole `doit bump` runs -------------------------------------------------------------------------

def doit(root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], daemon: Daemon,
         *args: str) -> tuple[int, str]:
    return doit_here(root, daemon, monkeypatch, capsys, *args)


def versions(root: Path) -> dict[str, str]:
    return {name: r.version for name, r in load_project(root).resources.items()}


def test_doit_bump_cascade_edits_each_file_in_place_and_one_run_releases_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root, daemon = tree(tmp_path / "p"), Daemon()
    run: Any = lambda *args: doit(root, monkeypatch, capsys, daemon, *args)  # noqa: E731
    assert run()[0] == 0
    (root / "resources" / "a" / "note.txt").write_text("a, changed\n")
    os.chmod(root / "resources" / "b" / "resource.yaml", 0o640)
    before = {n: (root / "resources" / n / "resource.yaml").read_text() for n in TREE}

    code, out = run()
    assert code != 0 and "give them new versions with `doit bump a --cascade`" in out, out

    code, out = run("bump", "a", "--cascade", "--part", "minor")
    assert code == 0, out
    assert "a: 1.0.0 → 1.1.0   resources/a/resource.yaml:4\n" in out
    assert "b: 1.0.0 → 1.0.1   resources/b/resource.yaml:4 (parent a bumped)\n" in out
    assert versions(root) == {"a": "1.1.0", "b": "1.0.1", "c": "1.0.1", "d": "1.0.1", "e": "1.0.0"}
    for name, text in before.items():  # one scalar changed; comments, layout, mode kept
        new = {"a": "1.1.0", "e": "1.0.0"}.get(name, "1.0.1")
        assert (root / "resources" / name / "resource.yaml").read_text() == text.replace(
            "version: 1.0.0 ", f"version: {new} ")
    assert stat.S_IMODE((root / "resources" / "b" / "resource.yaml").stat().st_mode) == 0o640

    builds = len(daemon.builds)
    code, out = run()
    assert code == 0, out
    assert len(daemon.builds) - builds == 4, daemon.builds  # a, b, c, d: each once


def test_options_before_the_name_a_setting_for_automatic_cascades_and_clear_refusals(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root, daemon = tree(tmp_path / "p", pipeline="namespace: calvin\nbump: {cascade: patch}\n"), Daemon()
    run: Any = lambda *args: doit(root, monkeypatch, capsys, daemon, *args)  # noqa: E731
    assert run()[0] == 0
    (root / "resources" / "b" / "note.txt").write_text("b, changed\n")

    code, out = run("bump", "--part", "major", "b")  # the setting cascades without --cascade
    assert code == 0, out
    assert versions(root) == {"a": "1.0.0", "b": "2.0.0", "c": "1.0.1", "d": "1.0.0", "e": "1.0.0"}
    code, out = run("bump", "e", "--no-cascade")
    assert code == 0 and versions(root)["e"] == "1.0.1", out

    for args, message in ((("bump",), "name the resource(s) to bump"),
                          (("bump", "a", "--part", "huge"), "--part huge: choose one of patch, minor, major"),
                          (("bump", "a", "--force"), "option --force not recognized"),
                          (("bump", "nope"), "no resource named 'nope'")):
        code, out = run(*args)
        assert code != 0 and message in out and "Traceback" not in out, (args, out)
    assert versions(root)["a"] == "1.0.0"


def test_the_bump_setting_is_checked_by_the_schema(tmp_path: Path) -> None:
    root = tree(tmp_path / "p", pipeline="namespace: calvin\nbump: {cascade: always}\n")
    with pytest.raises(InputError) as caught:
        load_project(root)
    assert "configs/pipeline.yaml" in str(caught.value) and "cascade" in str(caught.value)


def test_versions_sort_in_semantic_version_order() -> None:
    versions = ["1.10.0", "1.2.0", "not-a-version", "1.2.0-rc.1", "0.9.9", "2.0.0-alpha"]
    assert sorted(versions, key=version_order) == ["not-a-version", "0.9.9", "1.2.0-rc.1", "1.2.0", "1.10.0",
                                                  "2.0.0-alpha"]
    assert next_version("1.2.0-rc.1", "patch") == "1.2.0"  # the same pattern decides what a bump gives
