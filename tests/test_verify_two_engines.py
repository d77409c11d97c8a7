"""The same root inputs give the same image id on two engines: the host's, and a private dockerd
of this test's own (bench/engine.py: its own data root, socket and bridge; removed afterwards).

The root is test_verify_engine.py's reproducible one (a sorted tar, owners 0, every time the
lock's SOURCE_DATE_EPOCH), assembled by Calvin with `created` from that epoch.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Iterator

import pytest

from bench.engine import PrivateEngine
from helpers import make_project, run_doit
from test_verify_engine import rootfs_files

pytestmark = pytest.mark.engine


@pytest.fixture
def private_engine(tmp_path: Path) -> Iterator[PrivateEngine]:
    if not PrivateEngine.possible():
        pytest.skip("a private dockerd needs root and the dockerd binary")
    token = f"calvin-two-{secrets.token_hex(3)}"
    engine = PrivateEngine(tmp_path, token=token, bridge=f"calv2{token[-6:]}", address="10.254.251.1/24")
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()


def test_a_root_built_on_two_engines_has_one_image_id(tmp_path: Path, namespace: str,
                                                      private_engine: PrivateEngine) -> None:
    import docker

    files = rootfs_files()
    del files["resources/leaf/resource.yaml"], files["resources/leaf/Dockerfile"], files["resources/leaf/note.txt"]
    project = make_project(tmp_path / "project", files)
    (project / "resources/root/tree/bin/sh").symlink_to("busybox")
    here = run_doit(project, "build:root", namespace=namespace)  # writes the lock, builds again from it
    assert here.returncode == 0, here.stdout + here.stderr
    there = run_doit(project, "build:root", namespace=namespace, env={"DOCKER_HOST": private_engine.base_url})
    assert there.returncode == 0, there.stdout + there.stderr
    assert ".  build:root" in there.stdout and "wrote resources/root/packages.lock" not in there.stdout

    def ids(base_url: str) -> set[str]:
        client = docker.DockerClient(base_url=base_url)
        try:
            return {image.id for image in client.images.list(f"{namespace}/root")}
        finally:
            client.close()

    host = ids(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")
    assert len(host) == 1 and host == ids(private_engine.base_url)
