"""The shipped catalogue installs exactly its locks: every Dockerfile resource copies its
packages.lock and installs Debian packages only through base-linux's calvin-apt-install (apt
pinned to the lock), never with a plain `apt-get install`; the controller's wheels come from its
lock's pypi: lines, and nothing else lists them."""
from __future__ import annotations

import re
from pathlib import Path

from calvin_tasks.packages.lock import read_lock, read_locked_wheels
from calvin_tasks.project import load_project

REPO = Path(__file__).resolve().parents[1]


def test_every_catalogue_dockerfile_installs_from_its_lock() -> None:
    project = load_project(REPO)
    dockerfiles = {name: (r.folder / r.build.dockerfile).read_text() for name, r in project.resources.items()
                   if r.build.builder == "docker"}
    assert len(dockerfiles) >= 6
    for name, text in dockerfiles.items():
        assert read_lock(project.resources[name].folder), name
        assert "COPY packages.lock /tmp/calvin-lock/" in text, name
        assert re.search(r"(^|\s)calvin-apt-install\s", text, re.M), name
        instructions = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"apt-get\s+install", instructions), name  # only calvin-apt-install installs


def test_the_controller_installs_the_wheels_its_lock_pins() -> None:
    folder = REPO / "resources" / "build-controller"
    text = (folder / "Dockerfile").read_text()
    assert "--require-hashes" in text and "/tmp/calvin-lock/packages.lock > /tmp/requirements-www.txt" in text
    assert len(read_locked_wheels(folder)) == 4
    assert sorted(p.name for p in folder.glob("requirements*")) == []
