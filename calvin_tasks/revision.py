"""The project's source revision: the git commit the run builds from, and whether the tree differs.

Asked once per run (cached by project root). It labels built images
(`org.opencontainers.image.revision` / `.source`) and heads the release manifest; it is never a
build input: the fingerprint does not see it, so a commit alone rebuilds nothing.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

GIT_TIMEOUT = 10.0  # seconds; a hung git leaves the revision unknown rather than the run stuck
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)


@dataclass(frozen=True)
class Revision:
    commit: str
    dirty: bool        # tracked files changed or untracked files present under the project root
    remote: str = ""   # remote.origin.url without credentials, "" when there is none

    @property
    def label(self) -> str:
        """The revision label: the commit, marked when the tree was not that commit."""
        return f"{self.commit}-dirty" if self.dirty else self.commit

    def as_json(self) -> dict[str, object]:
        return {"commit": self.commit, "dirty": self.dirty, "remote": self.remote or None}


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=GIT_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):  # no git installed, or it hung
        return None
    return done.stdout if done.returncode == 0 else None


def _maybe_repository(root: Path) -> bool:
    """Whether git could find a repository for `root`: a .git in it or above it, or GIT_DIR set.
    Outside any repository a run spawns no git at all."""
    if os.environ.get("GIT_DIR"):
        return True
    folder = os.path.abspath(root)
    while True:
        if os.path.lexists(os.path.join(folder, ".git")):
            return True
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent


@cache
def source_revision(root: Path) -> Revision | None:
    """The commit of the repository holding `root`; None outside a git work tree or without git."""
    if not _maybe_repository(root):
        return None
    commit = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    if not commit or not commit.strip():
        return None
    status = _git(root, "status", "--porcelain", "--", ".")
    remote = (_git(root, "config", "--get", "remote.origin.url") or "").strip()
    return Revision(commit.strip(), bool(status and status.strip()), _USERINFO.sub(r"\1", remote))


def source_labels(root: Path) -> dict[str, str]:
    """The OCI labels naming the source an image was built from (none outside git). Labels are
    not build inputs: the fingerprint never sees them."""
    revision = source_revision(root)
    if revision is None:
        return {}
    labels = {"org.opencontainers.image.revision": revision.label}
    if revision.remote:
        labels["org.opencontainers.image.source"] = revision.remote
    return labels
