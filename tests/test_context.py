"""The build context tar: exactly the build inputs, byte-identical every time — no engine needed."""
from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from calvin_tasks.context import CONTEXT_MTIME, walk, write_tar
from calvin_tasks.model import Resource
from calvin_tasks.project import load_project
from helpers import child_resource, make_project, root_resource, write

FILES: dict[str, str | bytes | Path] = {
    **root_resource("base"),
    **child_resource("app", "base"),
    "resources/app/conf/app.conf": "port = 8080\n",
    "resources/app/conf/deeper/empty": "",
    "resources/app/bin/start": "#!/bin/sh\necho start\n",
    "resources/app/data.bin": bytes(range(256)) * 64,
    "resources/app/ünïcode-名前.txt": "non-ASCII names need PAX headers\n",
    "resources/app/ignored.log": "not in the context\n",
    "resources/app/.dockerignore": "*.log\n",
    "resources/app/tests.yaml": "files:\n  - path: /note.txt\n    exists: true\n",
    "resources/app/test_app.py": "def test_app():\n    pass\n",
}


def app(root: Path) -> Resource:
    return load_project(root).resources["app"]


def context_bytes(resource: Resource, replace: dict[str, bytes] | None = None) -> bytes:
    entries = walk(resource).build
    out = io.BytesIO()
    write_tar(resource, entries, out, replace)
    return out.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return tar.getmembers()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "project", FILES)
    (root / "resources/app/bin/start").chmod(0o755)
    (root / "resources/app/conf/app.conf").chmod(0o600)
    os.symlink("conf/app.conf", root / "resources/app/app.conf")
    return root


def test_two_writes_are_byte_identical(project: Path) -> None:
    resource = app(project)
    assert context_bytes(resource) == context_bytes(resource)


def test_the_tar_is_the_same_from_a_copy_elsewhere_with_other_times(tmp_path: Path, project: Path) -> None:
    first = context_bytes(app(project))
    elsewhere = tmp_path / "a" / "different" / "place"
    shutil.copytree(project, elsewhere, symlinks=True, copy_function=shutil.copy)  # new mtimes
    for current, dirs, files in os.walk(elsewhere):
        for name in dirs + files:
            os.utime(Path(current) / name, (1_500_000_000, 1_500_000_000), follow_symlinks=False)
    assert context_bytes(app(elsewhere)) == first


def test_owners_and_times_are_fixed(project: Path) -> None:
    found = members(context_bytes(app(project)))
    assert found
    for member in found:
        assert (member.uid, member.gid) == (0, 0), member.name
        assert (member.uname, member.gname) == ("", ""), member.name
        assert member.mtime == CONTEXT_MTIME, member.name
    assert CONTEXT_MTIME == 946684800  # 2000-01-01T00:00:00Z: a fixed time, never the files' times


def test_no_pax_header_leaks_a_time_or_owner(project: Path) -> None:
    for member in members(context_bytes(app(project))):
        assert not {"mtime", "atime", "ctime", "uid", "gid", "uname", "gname"} & set(member.pax_headers), \
            (member.name, member.pax_headers)


def test_modes_are_normalised_to_the_executable_bit(project: Path) -> None:
    found = {member.name: member for member in members(context_bytes(app(project)))}
    assert found["bin/start"].mode == 0o755
    assert found["conf/app.conf"].mode == 0o644  # 0600 on disk: only the executable bit counts
    assert found["note.txt"].mode == 0o644
    assert found["conf"].isdir() and found["conf"].mode == 0o755
    assert found["app.conf"].issym() and found["app.conf"].linkname == "conf/app.conf"


def test_the_tar_holds_exactly_the_build_inputs_sorted(project: Path) -> None:
    names = [member.name for member in members(context_bytes(app(project)))]
    assert names == sorted(names)
    assert set(names) == {
        ".dockerignore", "Dockerfile", "note.txt", "app.conf", "bin", "bin/start", "conf", "conf/app.conf",
        "conf/deeper", "conf/deeper/empty", "data.bin", "ünïcode-名前.txt",
    }


def test_file_contents_are_the_files(project: Path) -> None:
    data = context_bytes(app(project))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for name in ("data.bin", "note.txt", "bin/start", "ünïcode-名前.txt"):
            handle = tar.extractfile(name)
            assert handle is not None
            assert handle.read() == (project / "resources/app" / name).read_bytes(), name


def test_replace_swaps_a_file_and_is_deterministic(project: Path) -> None:
    resource = app(project)
    swapped = {"Dockerfile": b"ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nLABEL x=1\n"}
    first, second = context_bytes(resource, swapped), context_bytes(resource, swapped)
    assert first == second != context_bytes(resource)
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:") as tar:
        handle = tar.extractfile("Dockerfile")
        assert handle is not None and handle.read() == swapped["Dockerfile"]
    assert (project / "resources/app/Dockerfile").read_bytes() != swapped["Dockerfile"]


def test_a_content_change_changes_the_tar(project: Path) -> None:
    before = context_bytes(app(project))
    write(project / "resources/app/note.txt", "changed\n")
    assert context_bytes(app(project)) != before


def test_an_ignored_file_change_does_not_change_the_tar(project: Path) -> None:
    before = context_bytes(app(project))
    write(project / "resources/app/ignored.log", "changed, still ignored\n")
    write(project / "resources/app/more.log", "new, ignored\n")
    write(project / "resources/app/tests.yaml", "files:\n  - path: /note.txt\n    exists: false\n")
    assert context_bytes(app(project)) == before
