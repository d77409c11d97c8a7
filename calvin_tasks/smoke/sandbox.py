"""Where a resource's own test_*.py files run: a scratch copy, a scrubbed environment, and
(when Calvin runs as root) an unprivileged user.

The tests are the resource author's code running on the build host, so they get only what the
check needs: a copy of the smoke-test inputs (the files the test fingerprint covers, so what a
test can see is what decides when it re-runs), PATH, LANG, a fresh HOME and TMPDIR, DOCKER_HOST
and the CALVIN_SMOKE_* variables. No host secrets from Calvin's environment; no writes to the
project or to root's files. The fixtures start containers, so the user keeps access to the
engine's socket — which is root-equivalent on that host: this boundary keeps out accidents and
environment leaks, not a test that sets out to escape through the engine.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..engine import address
from ..model import TEST_FILE_PREFIX

UNPRIVILEGED_USER = "nobody"
TEST_FOLDER = "tests"
KEPT_VARIABLES = ("PATH", "DOCKER_HOST")


@dataclass(frozen=True)
class RunAs:
    """The user, group and extra groups for subprocess.run; empty when Calvin is not root."""

    user: int | None = None
    group: int | None = None
    extra_groups: tuple[int, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return pwd.getpwuid(os.geteuid() if self.user is None else self.user).pw_name


def run_as() -> RunAs:
    """Root drops to `nobody`, with the engine socket's group when the socket is group-owned."""
    if os.geteuid() != 0:
        return RunAs()
    user = pwd.getpwnam(UNPRIVILEGED_USER)
    extra: tuple[int, ...] = ()
    host = address()
    if host.startswith("unix://"):
        try:
            info = os.stat(host[len("unix://"):])
        except OSError:
            info = None
        if info is not None and info.st_mode & stat.S_IRWXG and not info.st_mode & stat.S_IWOTH:
            extra = (info.st_gid,)
    return RunAs(user.pw_uid, user.pw_gid, extra)


@dataclass(frozen=True)
class Python:
    """The interpreter the tests run with, and the PYTHONPATH it needs when it is not Calvin's own."""

    executable: str
    path: str | None = None


def python_for(who: RunAs) -> Python | str:
    """Calvin's own interpreter when `who` can run it; else the system's Python of the same version
    with Calvin's site-packages on PYTHONPATH (a venv made from a Python under /root, e.g. pyenv's);
    else the first path `who` cannot read."""
    own = Python(sys.executable)
    if who.user is None:
        return own
    import calvin_tasks

    packages = [Path(calvin_tasks.__file__).parent.parent,
                *(Path(p) for p in sys.path if p.endswith(("site-packages", "dist-packages")))]
    blocked = _unreadable([*packages, Path(sys.executable).resolve(), Path(shutil.__file__).parent])
    if blocked is None:
        return own
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    if system is None or _unreadable([Path(system).resolve()]) is not None:
        return blocked
    return _unreadable(packages) or Python(system, os.pathsep.join(str(p) for p in packages))


def _unreadable(paths: list[Path]) -> str | None:
    """The first of `paths` (or of their parents) that others cannot reach, judged by mode bits."""
    for path in paths:
        for part in [path, *path.parents]:
            try:
                mode = part.stat().st_mode
            except OSError:
                break
            wanted = stat.S_IXOTH | (stat.S_IROTH if part == path else 0)
            if mode & wanted != wanted:
                return str(part)
    return None


def scratch(folder: Path, who: RunAs) -> Path:
    """A fresh directory holding `home/` and a copy of the resource's smoke-test inputs in `tests/`,
    owned by `who`."""
    top = Path(tempfile.mkdtemp(prefix="calvin-pytest-"))
    copy = top / "tests"
    copy.mkdir()
    (top / "home").mkdir()
    for entry in folder.iterdir():
        if entry.is_symlink():
            continue  # a link could point anywhere on the host
        if entry.is_file() and ((entry.name.startswith(TEST_FILE_PREFIX) and entry.suffix == ".py")
                                or entry.name == "conftest.py"):
            shutil.copyfile(entry, copy / entry.name)
        elif entry.is_dir() and entry.name == TEST_FOLDER:
            shutil.copytree(entry, copy / entry.name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    if who.user is not None:
        for path in [top, *top.rglob("*")]:
            os.lchown(path, who.user, who.group if who.group is not None else -1)
    return top


def environment(top: Path, python: Python, smoke: Mapping[str, str]) -> dict[str, str]:
    """Only what the check needs; every other variable of Calvin's environment stays out."""
    env = {key: os.environ[key] for key in KEPT_VARIABLES if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(LANG=os.environ.get("LANG", "C.UTF-8"), HOME=str(top / "home"), TMPDIR=str(top / "home"),
               PYTHONDONTWRITEBYTECODE="1", **smoke)
    if python.path is not None:
        env["PYTHONPATH"] = python.path
    return env
