"""What goes into a resource's build: the folder less .dockerignore and the smoke tests.

Each folder is walked once per run. The same entries feed the fingerprint and the build
context sent to the engine, and the tar writer checks each file's digest as it adds it: the
fingerprint covers exactly what the builder sees, and a file changed mid-run fails the build.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tarfile
from pathlib import Path
from typing import IO

from .errors import StepFailed, display_path
from .model import TEST_FILE_PREFIX, Entry, Inputs, Resource

DOCKERIGNORE = ".dockerignore"
RESOURCE_FILE = "resource.yaml"
TEST_FOLDER = "tests"
_ALWAYS_SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".git"}
CONTEXT_MTIME = 946684800  # 2000-01-01: file times are not build inputs


class IgnoreRules:
    """.dockerignore patterns with Docker's meaning: last match wins, '!' re-includes."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = os.path.normpath(line[1:].strip() if negate else line).lstrip("/")
            if pattern in ("", "."):
                continue
            self.rules.append((negate, re.compile(_translate(pattern))))

    @classmethod
    def read(cls, folder: Path) -> "IgnoreRules":
        path = folder / DOCKERIGNORE
        return cls(path.read_text(encoding="utf-8").splitlines() if path.is_file() else [])

    def excludes(self, path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for negate, pattern in self.rules:
            if any(pattern.fullmatch(prefix) for prefix in prefixes):
                excluded = not negate
        return excluded


def _translate(pattern: str) -> str:
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(char)
            else:
                body = pattern[i + 1:end]
                out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return out


def is_test_input(resource: Resource, path: str) -> bool:
    """Smoke-test inputs: they go into the test fingerprint, never into the build."""
    first = path.split("/", 1)[0]
    if resource.tests is not None and path == resource.tests.relative_to(resource.folder).as_posix():
        return True
    return first == TEST_FOLDER or (("/" not in path) and (
        (first.startswith(TEST_FILE_PREFIX) and first.endswith(".py")) or first == "conftest.py"))


def walk(resource: Resource) -> Inputs:
    """The build inputs and smoke-test inputs of a resource folder, each sorted by path."""
    folder = resource.folder
    rules = IgnoreRules.read(folder)
    always = {resource.build.dockerfile, DOCKERIGNORE} if resource.build.builder == "docker" else {DOCKERIGNORE}
    build: list[Entry] = []
    tests: list[Entry] = []
    pending = [("", str(folder))]
    while pending:
        prefix, directory = pending.pop()
        with os.scandir(directory) as listing:
            found = sorted(listing, key=lambda e: e.name)
        for item in found:
            rel = prefix + item.name
            if rel == RESOURCE_FILE or (item.name in _ALWAYS_SKIPPED_DIRS and item.is_dir(follow_symlinks=False)):
                continue
            entry = _entry(item, rel)
            if entry.kind == "dir":
                pending.append((rel + "/", item.path))
            if is_test_input(resource, rel):
                tests.append(entry)
            elif rel in always or not rules.excludes(rel):
                build.append(entry)
    build.sort(key=lambda e: e.path)
    tests.sort(key=lambda e: e.path)
    return Inputs(tuple(build), tuple(e for e in tests if e.kind != "dir"))


def _entry(item: os.DirEntry[str], rel: str) -> Entry:
    if item.is_symlink():
        return Entry(rel, "link", target=os.readlink(item.path))
    if item.is_dir(follow_symlinks=False):
        return Entry(rel, "dir")
    with open(item.path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    # the owner's x bit, as git keeps it: not os.access, which depends on who reads the file
    return Entry(rel, "file", executable=bool(item.stat(follow_symlinks=False).st_mode & stat.S_IXUSR),
                 digest=digest)


def write_tar(resource: Resource, entries: tuple[Entry, ...], out: IO[bytes],
              replace: dict[str, bytes] | None = None, missing: dict[str, bytes] | None = None) -> None:
    """The build context as a tar with fixed owners, modes and times; `replace` swaps file contents
    (after the original is checked); `missing` adds files the folder does not have (Calvin's
    stand-ins, of constant content). Each file must still have the digest it had when the run
    fingerprinted it: otherwise the image would carry a fingerprint of other content."""
    replace = replace or {}
    present = {entry.path for entry in entries}
    added = sorted((path, data) for path, data in (missing or {}).items() if path not in present)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in added:
            info = tarfile.TarInfo(path)
            info.mtime, info.uid, info.gid, info.mode, info.size = CONTEXT_MTIME, 0, 0, 0o644, len(data)
            tar.addfile(info, io.BytesIO(data))
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mtime = CONTEXT_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if entry.kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif entry.kind == "link":
                info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.target
                tar.addfile(info)
            else:
                data = _unchanged(resource, entry)
                data = replace.get(entry.path, data)
                info.size = len(data)
                info.mode = 0o755 if entry.executable else 0o644
                tar.addfile(info, io.BytesIO(data))


def _unchanged(resource: Resource, entry: Entry) -> bytes:
    path = resource.folder / entry.path
    try:
        data = path.read_bytes()
    except OSError as err:
        raise StepFailed(f"{display_path(path)} changed during the run ({err.strerror}); "
                         "nothing was built — run again") from None
    if hashlib.sha256(data).hexdigest() != entry.digest:
        raise StepFailed(f"{display_path(path)} changed during the run (after it was fingerprinted); "
                         "nothing was built — run again")
    return data
