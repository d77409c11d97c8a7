"""A broken resource blocks only itself and what builds on it (real engine)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import child_resource, make_project, ran, root_resource, run_doit

pytestmark = pytest.mark.engine


def project(tmp_path: Path) -> Path:
    files: dict[str, Any] = {**root_resource("good"), **root_resource("bad"), **child_resource("below", "bad"),
                             **child_resource("fine", "good")}
    files["resources/bad/resource.yaml"] = "description: bad\ngrup: base\nversion: 1.0.0\n"
    return make_project(tmp_path / "project", files)


def test_a_typo_blocks_only_its_resource_and_descendants(tmp_path: Path, namespace: str) -> None:
    root = project(tmp_path)

    listed = run_doit(root, "list", namespace=namespace)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    assert "BROKEN" in lines["bad"] and "unknown key 'grup'" in lines["bad"] and "did you mean 'group'" in lines["bad"]
    assert "BROKEN" in lines["below"] and "its base 'bad' is broken" in lines["below"]
    assert "BROKEN" not in lines["good"] and "BROKEN" not in lines["fine"]

    info = run_doit(root, "info", "build:good", namespace=namespace)
    assert "status     : run" in info.stdout and "Traceback" not in info.stderr, info.stdout + info.stderr

    unrelated = run_doit(root, "fine", namespace=namespace)
    assert unrelated.returncode == 0, unrelated.stdout + unrelated.stderr
    assert ran(unrelated, "build") == ["fine", "good"]

    everything = run_doit(root, namespace=namespace)
    assert everything.returncode != 0
    assert ran(everything, "build") == []
    assert "resources/bad/resource.yaml:2" in everything.stdout and "unknown key 'grup'" in everything.stdout
    assert "Traceback" not in everything.stdout + everything.stderr

    alone = run_doit(root, "below", namespace=namespace)
    assert alone.returncode != 0 and ran(alone, "build") == []
    assert "its base 'bad' is broken" in alone.stdout
