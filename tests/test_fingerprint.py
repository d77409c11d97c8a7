"""Build and test fingerprints: what changes them and what must not — no engine needed."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from calvin_tasks.context import walk
from calvin_tasks.model import Fingerprints
from calvin_tasks.project import load_project
from helpers import child_resource, make_project, root_resource, write

# root ── mid ── leaf
#      └─ side
FAMILY: dict[str, str | Path] = {
    **root_resource("root"),
    "resources/root/etc/motd": "hello from root\n",
    "resources/root/tests.yaml": "files:\n  - path: /bin/busybox\n    exists: true\n",
    **child_resource("mid", "root"),
    "resources/mid/tests.yaml": "commands:\n  - name: note\n    run: [cat, /note.txt]\n    stdout: mid\n",
    "resources/mid/test_mid.py": "def test_nothing():\n    assert True\n",
    "resources/mid/tests/data.txt": "test data\n",
    **child_resource("side", "root"),
    **child_resource("leaf", "mid"),
}


def fingerprints(root: Path) -> dict[str, Fingerprints]:
    return dict(load_project(root).fingerprints)


def builds(root: Path) -> dict[str, str]:
    return {name: fp.build for name, fp in fingerprints(root).items()}


def builds_of(prints: dict[str, Fingerprints]) -> dict[str, str]:
    return {name: fp.build for name, fp in prints.items()}


def smoke_prints(root: Path) -> dict[str, str]:
    return {name: fp.test for name, fp in fingerprints(root).items()}


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    assert before.keys() == after.keys()
    return sorted(name for name in before if before[name] != after[name])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project", FAMILY)


def resource_file(project: Path, name: str, path: str) -> Path:
    return project / "resources" / name / path


# -- determinism ---------------------------------------------------------------------------------

def test_fingerprints_are_sha256_hex_and_stable(project: Path) -> None:
    first, second = fingerprints(project), fingerprints(project)
    assert first == second
    for fp in first.values():
        assert len(fp.build) == 64 and int(fp.build, 16) >= 0
        assert len(fp.test) == 64 and int(fp.test, 16) >= 0
        assert fp.content_tag == f"fp-{fp.build[:24]}"
    assert len({fp.build for fp in first.values()}) == len(first)


@pytest.mark.parametrize("keep_times", [True, False], ids=["copy2", "copy-without-times"])
def test_same_tree_at_two_absolute_paths_gives_the_same_fingerprints(tmp_path: Path, project: Path,
                                                                     keep_times: bool) -> None:
    elsewhere = tmp_path / "somewhere" / "much" / "deeper" / "clone"
    shutil.copytree(project, elsewhere, copy_function=shutil.copy2 if keep_times else shutil.copy)
    assert fingerprints(elsewhere) == fingerprints(project)


def test_file_times_do_not_matter(project: Path) -> None:
    before = fingerprints(project)
    stamp = 1_000_000_000
    for current, dirs, files in os.walk(project / "resources"):
        for name in dirs + files:
            stamp += 7777
            os.utime(Path(current) / name, (stamp, stamp))
    assert fingerprints(project) == before


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664, 0o444, 0o666])
def test_permissions_other_than_the_executable_bit_do_not_matter(project: Path, mode: int) -> None:
    motd = resource_file(project, "root", "etc/motd")
    motd.chmod(0o644)
    before = builds(project)
    motd.chmod(mode)
    assert builds(project) == before


def test_the_executable_bit_matters(project: Path) -> None:
    motd = resource_file(project, "root", "etc/motd")
    motd.chmod(0o644)
    before = builds(project)
    motd.chmod(0o755)
    executable = builds(project)
    assert changed(before, executable) == ["leaf", "mid", "root", "side"]
    motd.chmod(0o700)  # still executable: the same as 0755
    assert builds(project) == executable
    motd.chmod(0o644)
    assert builds(project) == before


@pytest.mark.parametrize("mode", [0o654, 0o645, 0o655])
def test_only_the_owners_executable_bit_counts(project: Path, mode: int) -> None:
    # As git records it: a file is executable when its owner may execute it.
    motd = resource_file(project, "root", "etc/motd")
    motd.chmod(0o644)
    before = builds(project)
    motd.chmod(mode)
    assert builds(project) == before


# -- sensitivity ---------------------------------------------------------------------------------

def test_a_content_change_rebuilds_the_resource_and_its_descendants(project: Path) -> None:
    before = builds(project)
    resource_file(project, "mid", "note.txt").write_text("mid, edited\n")
    assert changed(before, builds(project)) == ["leaf", "mid"]


def test_a_content_change_back_restores_the_fingerprint(project: Path) -> None:
    before = builds(project)
    note = resource_file(project, "mid", "note.txt")
    original = note.read_text()
    note.write_text("something else\n")
    note.write_text(original)
    assert builds(project) == before


def test_a_new_file_changes_the_fingerprint(project: Path) -> None:
    before = builds(project)
    write(resource_file(project, "side", "extra/new.conf"), "x = 1\n")
    assert changed(before, builds(project)) == ["side"]


def test_an_empty_new_file_changes_the_fingerprint(project: Path) -> None:
    before = builds(project)
    write(resource_file(project, "side", "empty"), "")
    assert changed(before, builds(project)) == ["side"]


def test_a_renamed_file_changes_the_fingerprint(project: Path) -> None:
    before = builds(project)
    motd = resource_file(project, "root", "etc/motd")
    motd.rename(motd.with_name("motd.renamed"))
    assert changed(before, builds(project)) == ["leaf", "mid", "root", "side"]


def test_a_deleted_file_changes_the_fingerprint(project: Path) -> None:
    before = builds(project)
    resource_file(project, "root", "etc/motd").unlink()
    assert changed(before, builds(project)) == ["leaf", "mid", "root", "side"]


def _set_build(project: Path, name: str, build: str) -> None:
    path = resource_file(project, name, "resource.yaml")
    lines = [line for line in path.read_text().splitlines() if not line.startswith("build:")]
    path.write_text("\n".join(lines + [f"build: {build}"]) + "\n")


def test_a_build_arg_change_changes_the_fingerprint(project: Path) -> None:
    _set_build(project, "side", "{args: {GREETING: hello}}")
    before = builds(project)
    _set_build(project, "side", "{args: {GREETING: bonjour}}")
    assert changed(before, builds(project)) == ["side"]
    _set_build(project, "side", "{args: {GREETING: hello, OTHER: x}}")
    assert changed(before, builds(project)) == ["side"]
    _set_build(project, "side", "{args: {GREETING: hello}}")
    assert builds(project) == before


def test_build_arg_order_in_the_yaml_does_not_matter(project: Path) -> None:
    _set_build(project, "side", "{args: {A: '1', B: '2'}}")
    before = builds(project)
    _set_build(project, "side", "{args: {B: '2', A: '1'}}")
    assert builds(project) == before


def test_a_dockerfile_name_change_changes_the_fingerprint(project: Path) -> None:
    # Both files exist, with the same content, in both cases: only the setting differs.
    dockerfile = resource_file(project, "side", "Dockerfile")
    write(resource_file(project, "side", "Dockerfile.alt"), dockerfile.read_text())
    before = builds(project)
    _set_build(project, "side", "{dockerfile: Dockerfile.alt}")
    assert changed(before, builds(project)) == ["side"]


def test_the_explicit_default_dockerfile_is_the_same_as_the_default(project: Path) -> None:
    before = builds(project)
    _set_build(project, "side", "{dockerfile: Dockerfile, builder: docker}")
    assert builds(project) == before


def test_a_dockerfile_edit_changes_the_fingerprint(project: Path) -> None:
    before = builds(project)
    dockerfile = resource_file(project, "mid", "Dockerfile")
    dockerfile.write_text(dockerfile.read_text() + "ENV EDITED=1\n")
    assert changed(before, builds(project)) == ["leaf", "mid"]


def test_a_parent_change_reaches_its_children_but_not_their_siblings(project: Path) -> None:
    before = builds(project)
    resource_file(project, "mid", "Dockerfile").write_text(
        resource_file(project, "mid", "Dockerfile").read_text() + "RUN true\n")
    assert changed(before, builds(project)) == ["leaf", "mid"]  # side, mid's sibling, untouched
    before = builds(project)
    write(resource_file(project, "root", "etc/issue"), "Calvin\n")
    assert changed(before, builds(project)) == ["leaf", "mid", "root", "side"]


def test_a_new_base_changes_the_fingerprint(tmp_path: Path) -> None:
    files = dict(FAMILY)
    files.update({f"resources/other/{k.split('/', 2)[2]}": v for k, v in root_resource("other").items()})
    project = make_project(tmp_path / "p", files)
    before = builds(project)
    yaml = resource_file(project, "side", "resource.yaml")
    yaml.write_text(yaml.read_text().replace("base: root", "base: other"))
    assert changed(before, builds(project)) == ["side"]


def test_the_resource_name_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    # Two resources with identical folders still get their own images (and content tags).
    files = {**child_resource("twin-a", "root", note="same"), **child_resource("twin-b", "root", note="same"),
             **root_resource("root")}
    for key in list(files):
        if key.endswith("resource.yaml") and "/twin-" in key:
            files[key] = "description: twin\ngroup: build\nversion: 1.0.0\nbase: root\n"
    prints = builds(make_project(tmp_path / "p", files))
    assert prints["twin-a"] != prints["twin-b"]


# -- build fingerprint vs test fingerprint --------------------------------------------------------

def test_editing_tests_yaml_changes_only_the_test_fingerprint(project: Path) -> None:
    before_build, before_test = builds(project), smoke_prints(project)
    tests_yaml = resource_file(project, "mid", "tests.yaml")
    tests_yaml.write_text(tests_yaml.read_text().replace("stdout: mid", "stdout: \"^mid$\""))
    assert builds(project) == before_build
    assert changed(before_test, smoke_prints(project)) == ["mid"]


def test_editing_a_python_smoke_test_changes_only_the_test_fingerprint(project: Path) -> None:
    before_build, before_test = builds(project), smoke_prints(project)
    resource_file(project, "mid", "test_mid.py").write_text("def test_nothing():\n    assert 1 == 1\n")
    assert builds(project) == before_build
    assert changed(before_test, smoke_prints(project)) == ["mid"]


def test_adding_a_python_smoke_test_changes_only_the_test_fingerprint(project: Path) -> None:
    before_build, before_test = builds(project), smoke_prints(project)
    write(resource_file(project, "side", "test_side.py"), "def test_side():\n    pass\n")
    assert builds(project) == before_build
    assert changed(before_test, smoke_prints(project)) == ["side"]


def test_editing_the_tests_folder_changes_only_the_test_fingerprint(project: Path) -> None:
    before_build, before_test = builds(project), smoke_prints(project)
    resource_file(project, "mid", "tests/data.txt").write_text("other test data\n")
    assert builds(project) == before_build
    assert changed(before_test, smoke_prints(project)) == ["mid"]


def test_test_inputs_are_not_build_inputs(project: Path) -> None:
    resource = load_project(project).resources["mid"]
    inputs = walk(resource)
    build_entries, test_entries = inputs.build, inputs.test
    build_paths = {entry.path for entry in build_entries}
    assert {"Dockerfile", "note.txt"} <= build_paths
    assert not build_paths & {"tests.yaml", "test_mid.py", "tests", "tests/data.txt", "resource.yaml"}
    assert {entry.path for entry in test_entries} == {"tests.yaml", "test_mid.py", "tests/data.txt"}


def test_a_build_change_does_not_change_the_test_fingerprint(project: Path) -> None:
    before = smoke_prints(project)
    resource_file(project, "mid", "note.txt").write_text("changed\n")
    assert smoke_prints(project) == before


def test_a_description_change_changes_no_fingerprint(project: Path) -> None:
    before = fingerprints(project)
    yaml = resource_file(project, "mid", "resource.yaml")
    assert "description: mid on root" in yaml.read_text()
    yaml.write_text(yaml.read_text().replace("description: mid on root", "description: mid — a better one"))
    assert load_project(project).resources["mid"].description == "mid — a better one"
    assert fingerprints(project) == before


def test_a_version_bump_changes_only_that_resources_build_fingerprint(project: Path) -> None:
    """The image carries its version label, so the bumped resource is a new image; its children
    build on the parent's content, which did not change, so they keep their fingerprints."""
    before = fingerprints(project)
    yaml = resource_file(project, "mid", "resource.yaml")
    yaml.write_text(yaml.read_text().replace("version: 1.0.0", "version: 1.0.1"))
    after = fingerprints(project)
    assert changed(builds_of(before), builds_of(after)) == ["mid"]
    assert after["mid"].content == before["mid"].content
    assert after["mid"].test == before["mid"].test


# -- .dockerignore -------------------------------------------------------------------------------

def _ignore(project: Path, name: str, text: str) -> None:
    write(resource_file(project, name, ".dockerignore"), text)


def _context(project: Path, name: str) -> set[str]:
    return {entry.path for entry in walk(load_project(project).resources[name]).build}


def test_an_ignored_file_does_not_change_the_build_fingerprint(project: Path) -> None:
    write(resource_file(project, "side", "notes.local"), "scratch\n")
    _ignore(project, "side", "# local files\nnotes.local\n")
    before = builds(project)
    resource_file(project, "side", "notes.local").write_text("edited scratch\n")
    assert builds(project) == before
    assert "notes.local" not in _context(project, "side")
    resource_file(project, "side", "note.txt").write_text("kept file edited\n")
    assert changed(before, builds(project)) == ["side"]


def test_an_ignored_new_file_does_not_change_the_build_fingerprint(project: Path) -> None:
    _ignore(project, "side", "*.log\n")
    before = builds(project)
    write(resource_file(project, "side", "build.log"), "noise\n")
    assert builds(project) == before


def test_a_bang_pattern_re_includes(project: Path) -> None:
    write(resource_file(project, "side", "README.md"), "readme\n")
    write(resource_file(project, "side", "NOTES.md"), "notes\n")
    _ignore(project, "side", "*.md\n!README.md\n")
    assert {"README.md", "note.txt"} <= _context(project, "side")
    assert "NOTES.md" not in _context(project, "side")
    before = builds(project)
    resource_file(project, "side", "NOTES.md").write_text("notes, edited\n")
    assert builds(project) == before
    resource_file(project, "side", "README.md").write_text("readme, edited\n")
    assert changed(before, builds(project)) == ["side"]


def test_the_last_matching_pattern_wins(project: Path) -> None:
    write(resource_file(project, "side", "README.md"), "readme\n")
    _ignore(project, "side", "!README.md\n*.md\n")
    assert "README.md" not in _context(project, "side")


def test_a_bang_pattern_re_includes_a_file_inside_an_ignored_folder(project: Path) -> None:
    write(resource_file(project, "side", "cache/keep.txt"), "keep\n")
    write(resource_file(project, "side", "cache/drop.txt"), "drop\n")
    _ignore(project, "side", "cache\n!cache/keep.txt\n")
    context = _context(project, "side")
    assert "cache/keep.txt" in context and "cache/drop.txt" not in context
    before = builds(project)
    resource_file(project, "side", "cache/drop.txt").write_text("drop, edited\n")
    assert builds(project) == before
    resource_file(project, "side", "cache/keep.txt").write_text("keep, edited\n")
    assert changed(before, builds(project)) == ["side"]


@pytest.mark.parametrize("pattern", ["**/*.tmp", "**/*.tmp\n", "/**/*.tmp"])
def test_double_star_patterns_match_at_any_depth(project: Path, pattern: str) -> None:
    for path in ("top.tmp", "a/mid.tmp", "a/b/c/deep.tmp", "a/b/c/deep.txt"):
        write(resource_file(project, "side", path), path + "\n")
    _ignore(project, "side", pattern)
    context = _context(project, "side")
    assert not {"top.tmp", "a/mid.tmp", "a/b/c/deep.tmp"} & context
    assert "a/b/c/deep.txt" in context
    before = builds(project)
    for path in ("top.tmp", "a/mid.tmp", "a/b/c/deep.tmp"):
        resource_file(project, "side", path).write_text("edited\n")
    write(resource_file(project, "side", "a/b/new.tmp"), "new\n")
    assert builds(project) == before
    resource_file(project, "side", "a/b/c/deep.txt").write_text("edited\n")
    assert changed(before, builds(project)) == ["side"]


def test_double_star_in_the_middle(project: Path) -> None:
    for path in ("docs/x.txt", "docs/a/b/x.txt", "docs/a/y.txt", "x.txt"):
        write(resource_file(project, "side", path), path + "\n")
    _ignore(project, "side", "docs/**/x.txt\n")
    context = _context(project, "side")
    assert not {"docs/x.txt", "docs/a/b/x.txt"} & context
    assert {"docs/a/y.txt", "x.txt"} <= context


def test_a_single_star_does_not_cross_folders(project: Path) -> None:
    for path in ("top.log", "sub/inner.log"):
        write(resource_file(project, "side", path), path + "\n")
    _ignore(project, "side", "*.log\n")
    context = _context(project, "side")
    assert "top.log" not in context
    assert "sub/inner.log" in context  # Docker's meaning: '*.log' is the top folder only


@pytest.mark.parametrize("pattern", ["cache", "cache/", "/cache", "./cache", "cach?"])
def test_a_folder_pattern_excludes_the_folder_and_all_it_holds(project: Path, pattern: str) -> None:
    write(resource_file(project, "side", "cache/a/b/blob.bin"), b"\x00" * 16)
    write(resource_file(project, "side", "cache/top.txt"), "top\n")
    _ignore(project, "side", pattern + "\n")
    context = _context(project, "side")
    assert not [path for path in context if path == "cache" or path.startswith("cache/")]
    before = builds(project)
    resource_file(project, "side", "cache/top.txt").write_text("edited\n")
    write(resource_file(project, "side", "cache/a/new.txt"), "new\n")
    (resource_file(project, "side", "cache/a/b/blob.bin")).unlink()
    assert builds(project) == before


def test_the_dockerfile_and_dockerignore_always_go_in(project: Path) -> None:
    _ignore(project, "side", "*\n")
    context = _context(project, "side")
    assert {"Dockerfile", ".dockerignore"} <= context
    assert "note.txt" not in context


def test_a_dockerignore_edit_changes_the_build_fingerprint(project: Path) -> None:
    _ignore(project, "side", "*.log\n")
    before = builds(project)
    _ignore(project, "side", "*.log\n*.tmp\n")
    assert changed(before, builds(project)) == ["side"]


def test_dockerignore_comments_and_blank_lines_are_not_patterns(project: Path) -> None:
    _ignore(project, "side", "# note.txt\n\n   \n")
    assert "note.txt" in _context(project, "side")


# -- the same checkout, read by two users -------------------------------------------------------

def _builds_as_nobody(project: Path) -> dict[str, str]:
    """The build fingerprints computed by another user (nobody) reading the very same files."""
    import json
    import pwd

    nobody = pwd.getpwnam("nobody")
    builds(project)  # import everything now: the child cannot read the interpreter's home
    read, written = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(read)
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.write(written, json.dumps(builds(project)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(written)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the fingerprint failed as user nobody"
    return json.loads(b"".join(chunks))


def test_the_executable_bit_is_read_from_the_mode_not_from_who_reads_it() -> None:
    # Regression: the bit was once os.access(path, X_OK) — who reads the file (root: any x bit;
    # others: their own class) — so two users got two fingerprints for the same files.
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to read the same files as a second user")
    top = Path(tempfile.mkdtemp(prefix="calvin-two-users-"))
    try:
        top.chmod(0o755)
        project = make_project(top / "project", FAMILY)
        for current, dirs, _ in os.walk(top):
            for name in dirs:
                (Path(current) / name).chmod(0o755)
        resource_file(project, "root", "etc/motd").chmod(0o744)  # rwxr--r--: a script for its owner
        assert _builds_as_nobody(project) == builds(project)
    finally:
        shutil.rmtree(top)
