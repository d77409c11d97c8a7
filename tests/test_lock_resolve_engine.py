"""A first run without packages.lock resolves the lock before it releases, and wheels are locked,
checked, listed in the SBOM and diffed — against the real engine.

`os` is the busybox root with a dpkg status file (test_packages_engine.py); `py` builds on it and
"pip-installs" a wheel the way pip --target leaves it: a *.dist-info/METADATA under
/usr/local/lib/python3.11/dist-packages, its version from the file `wheel-version`.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import child_resource, make_project, ran, root_resource, run_doit
from test_packages_engine import STATUS

pytestmark = pytest.mark.engine

SITE = "/usr/local/lib/python3.11/dist-packages"
PY_DOCKERFILE = f"""ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
COPY wheel-version packages.lock /tmp/wheel/
RUN d={SITE}/Buildbot_WWW-$(cat /tmp/wheel/wheel-version).dist-info; mkdir -p $d; \\
    printf 'Metadata-Version: 2.1\\nName: Buildbot_WWW\\nVersion: %s\\n\\nThe web UI.\\n' \\
        "$(cat /tmp/wheel/wheel-version)" > $d/METADATA; rm -rf /tmp/wheel
"""


def files() -> dict[str, str | Path]:
    found: dict[str, str | Path] = {}
    found.update(root_resource("os", extra="COPY status /var/lib/dpkg/status\n"))
    found["resources/os/status"] = STATUS
    found.update(child_resource("py", "os"))
    found["resources/py/Dockerfile"] = PY_DOCKERFILE
    found["resources/py/wheel-version"] = "3.7.0"
    return found


def locked(project: Path, name: str) -> list[str]:
    text = (project / "resources" / name / "packages.lock").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_a_first_run_resolves_locks_so_the_next_run_has_nothing_to_do(tmp_path: Path, namespace: str) -> None:
    project = make_project(tmp_path / "project", files())

    # no lock: each build writes its lock, and builds again from it under the fingerprint it now has
    first = run_doit(project, namespace=namespace)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "os: wrote resources/os/packages.lock (2 packages, read from the image)" in first.stdout
    assert "py: wrote resources/py/packages.lock (2 packages, 1 wheels, read from the image)" in first.stdout
    assert "building py again from its new packages.lock" in first.stdout
    assert "py: package set matches packages.lock (2 packages, 1 wheels)" in first.stdout
    assert ran(first, "release") == ["os", "py"]
    assert locked(project, "py")[-1] == "pypi:buildbot-www\t3.7.0\t-"

    # the released versions carry the fingerprints their folders have: nothing to do, nothing blocked
    plan = run_doit(project, "plan", namespace=namespace)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "nothing to do: 2 resources up to date" in plan.stdout
    again = run_doit(project, namespace=namespace)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ran(again, "build") == [] and ran(again, "release") == []
    assert "version not bumped" not in again.stdout + again.stderr

    # the SBOM lists the wheel as a pypi purl (PEP 503 name)
    sbom = json.loads((project / "out/releases/sbom/py/1.0.0.cdx.json").read_text())
    assert "pkg:pypi/buildbot-www@3.7.0" in [c["purl"] for c in sbom["components"]]
    entry = next(e for e in json.loads((project / "out/releases/latest.json").read_text())["resources"]
                 if e["resource"] == "py")
    assert (entry["packages"]["packages"], entry["packages"]["wheels"]) == (2, 1)

    # a wheel the image has at another version than the lock fails the build, naming it
    (project / "resources/py/wheel-version").write_text("3.8.0")
    (project / "resources/py/resource.yaml").write_text(
        (project / "resources/py/resource.yaml").read_text().replace("version: 1.0.0", "version: 1.0.1"))
    failed = run_doit(project, namespace=namespace)
    assert failed.returncode != 0
    assert ("the image of py differs from resources/py/packages.lock in 1 package(s): "
            "pypi:buildbot-www is 3.8.0 in the image, 3.7.0 in the lock") in failed.stdout + failed.stderr

    # the lock updated to the new wheel: built, released, and the diff names the wheel
    lock = project / "resources/py/packages.lock"
    lock.write_text(lock.read_text().replace("pypi:buildbot-www\t3.7.0", "pypi:buildbot-www\t3.8.0"))
    released = run_doit(project, namespace=namespace)
    assert released.returncode == 0, released.stdout + released.stderr
    assert ran(released, "release") == ["py"]
    changes = run_doit(project, "diff", "py", namespace=namespace)
    assert changes.returncode == 0, changes.stdout + changes.stderr
    assert "py 1.0.0 → 1.0.1: 0 added, 0 removed, 1 changed" in changes.stdout
    assert "~ pypi:buildbot-www 3.7.0 → 3.8.0" in changes.stdout
