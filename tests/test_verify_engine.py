"""Reproducible roots and `doit verify`, against the real engine.

A rootfs root whose command writes a tar as a reproducible tool does (sorted, owners 0, every time
the lock's SOURCE_DATE_EPOCH) is assembled by Calvin with a fixed `created`: built again, it has
the identical image id. A Dockerfile child rebuilds to the same file tree, or verify names the
file that differs.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import BUSYBOX, child_resource, make_project, ran, run_doit
from test_packages_engine import STATUS

pytestmark = pytest.mark.engine
def rootfs_files() -> dict[str, str | Path]:
    """A rootfs root whose command writes a tar the way a reproducible tool does: sorted, owners
    0, every time SOURCE_DATE_EPOCH (the lock's) — and a Dockerfile child on it."""
    command = ('tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${SOURCE_DATE_EPOCH:-0}" '
               '-cf "$CALVIN_ROOTFS" -C tree .')
    return {
        "resources/root/resource.yaml": ("description: a reproducible root\ngroup: base\nversion: 1.0.0\n"
                                         "build:\n  builder: rootfs\n  command: [sh, -c, '" + command + "']\n"
                                         "  image:\n    cmd: [/bin/sh]\n    env: {LANG: C.UTF-8}\n"),
        "resources/root/tree/bin/busybox": BUSYBOX,
        "resources/root/tree/var/lib/dpkg/status": STATUS,
        **child_resource("leaf", "root"),
    }


def test_a_root_rebuilds_to_the_same_image_id_and_verify_says_so(tmp_path: Path, namespace: str) -> None:
    project = make_project(tmp_path / "project", rootfs_files())
    (project / "resources/root/tree/bin/sh").symlink_to("busybox")
    (project / "resources/root/tree/bin/cat").symlink_to("busybox")
    first = run_doit(project, "build:root", namespace=namespace)  # no lock yet: writes it
    assert first.returncode == 0, first.stdout + first.stderr
    lock = (project / "resources/root/packages.lock").read_text()
    epoch = int(next(l for l in lock.splitlines() if l.startswith("# source-date-epoch: ")).split(": ")[1])

    built = run_doit(project, "build:leaf", namespace=namespace)  # from the lock: SOURCE_DATE_EPOCH
    assert built.returncode == 0, built.stdout + built.stderr
    assert "leaf: wrote resources/leaf/packages.lock (2 packages" in built.stdout  # it inherits the status file
    assert "building leaf again from its new packages.lock" in built.stdout
    assert ran(run_doit(project, "build:leaf", namespace=namespace), "build") == []  # built from its lock
    assert "(SOURCE_DATE_EPOCH from packages.lock)" in (project / "out/logs/root/build.log").read_text()

    import docker

    client = docker.from_env()
    from calvin_tasks.rootimage import created_at

    image = next(i for i in client.images.list(f"{namespace}/root")  # the one Calvin assembled (not imported)
                 if i.history()[0].get("CreatedBy") == "calvin rootfs")
    assert image.labels["org.opencontainers.image.created"] == created_at(epoch)

    assert image.attrs["Created"].startswith(created_at(epoch)[:-1])

    root = run_doit(project, "verify", "root", namespace=namespace)
    assert root.returncode == 0, root.stdout + root.stderr
    assert f"image id: identical ({image.id[7:19]})" in root.stdout
    assert "file tree: 0 difference(s)" in root.stdout and "packages: 0 difference(s)" in root.stdout

    leaf = run_doit(project, "verify", "leaf", namespace=namespace)
    assert leaf.returncode == 0, leaf.stdout + leaf.stderr
    assert "file tree: 0 difference(s)" in leaf.stdout and "packages: 0 difference(s)" in leaf.stdout
    assert f"{namespace}-verify-" not in "".join(t for i in client.images.list() for t in i.tags)


def test_verify_names_a_file_that_differs(tmp_path: Path, namespace: str) -> None:
    files = rootfs_files()
    files.update(child_resource("leaf", "root", extra="RUN date +%s%N > /stamp\n"))
    project = make_project(tmp_path / "project", files)
    (project / "resources/root/tree/bin/sh").symlink_to("busybox")
    (project / "resources/root/tree/bin/date").symlink_to("busybox")
    (project / "resources/root/tree/bin/cat").symlink_to("busybox")
    assert run_doit(project, "build:root", namespace=namespace).returncode == 0
    assert run_doit(project, "build:leaf", namespace=namespace).returncode == 0
    assert run_doit(project, "build:leaf", namespace=namespace).returncode == 0  # from the lock it wrote
    leaf = run_doit(project, "verify", "leaf", namespace=namespace)
    assert leaf.returncode != 0
    assert "file tree: 1 difference(s)" in leaf.stdout
    assert "  /stamp: content differ" in leaf.stdout
    assert "leaf did not rebuild to the same file tree and packages" in leaf.stdout + leaf.stderr
