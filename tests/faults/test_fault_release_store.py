"""Attacks on the release store: a version tag moved from outside, and a build step that tries to
delete another resource's release through the registry's API."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fault_helpers import FaultEnvironment, assert_released, assert_truthful, one_line
from helpers import child_resource, make_project, ran, root_resource, write

pytestmark = pytest.mark.engine


def test_a_release_tag_moved_from_outside_is_reported_and_blocks(faults: FaultEnvironment, ns: str, tmp_path: Path,
                                                                  outcome: Any) -> None:
    files = {**root_resource("slow", extra=f'LABEL test="{ns}"\n'), **child_resource("kid", "slow")}
    root = make_project(tmp_path / "project", files)
    first, _ = faults.run(root, ns)
    assert first.returncode == 0, first.stdout + first.stderr
    release = assert_released(faults, root, ns, ["slow", "kid"])["slow"]
    # someone builds FROM the release and pushes the result over its version tag
    remote = f"{faults.registry.address}/{ns}/slow:1.0.0"
    faults.docker("pull", remote)
    faults.docker("build", "-t", remote, "-", stdin=f"FROM {remote}\nRUN echo x > /evil.txt\n")
    faults.docker("push", remote)
    moved = faults.registry.digest(f"{ns}/slow", "1.0.0")
    assert moved is not None and moved != release
    write(root / "resources" / "kid" / "note.txt", "kid, changed\n")  # a child that would build on it
    write(root / "resources" / "kid" / "resource.yaml", "description: kid on slow\ngroup: build\n"
                                                        "version: 1.0.1\nbase: slow\n")

    blocked, _ = faults.run(root, ns)

    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, output
    assert "Traceback" not in output, output
    said = one_line(output, r"now points at")
    found = re.search(rf"{ns}/slow:1\.0\.0 now points at (sha256:[0-9a-f]+)…? which Calvin did not release; "
                      r"the release was (sha256:[0-9a-f]+)", said)
    assert found, output
    assert moved.startswith(found[1]) and release.startswith(found[2]), said
    assert ran(blocked, "build") == []  # nothing builds on the moved tag
    assert faults.registry.digest(f"{ns}/kid", "1.0.1") is None
    assert faults.registry.digest(f"{ns}/slow", "1.0.0") == moved  # Calvin does not fight over the tag

    # a person acts: the release is put back under its version tag
    faults.docker("pull", f"{faults.registry.address}/{ns}/slow@{release}")
    faults.docker("tag", f"{faults.registry.address}/{ns}/slow@{release}", remote)
    faults.docker("push", remote)
    result, seconds = faults.run(root, ns)

    assert result.returncode == 0, result.stdout + result.stderr
    assert_truthful(result.stdout + result.stderr, faults, ns)
    assert ran(result, "build") == ["kid"]
    assert_released(faults, root, ns, ["slow", "kid"])
    assert faults.registry.digest(f"{ns}/slow", "1.0.0") == release
    outcome("release tag moved from outside", "blocked", seconds, said)


ATTACK = ("RUN printf 'DELETE /v2/{ns}/victim/manifests/{digest} HTTP/1.0\\r\\nHost: {address}\\r\\n\\r\\n'"
          " | nc -w 5 127.0.0.1 {port} > /attack.txt 2>&1; echo \"nc exit $?\" >> /attack.txt; cat /attack.txt\n")


@pytest.mark.parametrize("network", ["default", "host"])
def test_a_build_step_cannot_delete_a_release(faults: FaultEnvironment, ns: str, tmp_path: Path, outcome: Any,
                                              network: str) -> None:
    root = make_project(tmp_path / "project", root_resource("victim", extra=f'LABEL test="{ns}"\n'))
    first, _ = faults.run(root, ns)
    assert first.returncode == 0, first.stdout + first.stderr
    digest = assert_released(faults, root, ns, ["victim"])["victim"]
    before = faults.registry.snapshot(f"{ns}/victim")
    attack = ATTACK.format(ns=ns, digest=digest, address=faults.registry.address, port=faults.registry.port)
    for path, content in root_resource("attacker", extra=f'LABEL test="{ns}"\n' + attack).items():
        write(root / path, content)
    extra = {"CALVIN_BUILD_NETWORK": "host"} if network == "host" else {}

    result, seconds = faults.run(root, ns, **extra)

    assert faults.registry.snapshot(f"{ns}/victim") == before  # the store is untouched
    assert faults.registry.digest(f"{ns}/victim", "1.0.0") == digest
    seen = faults.docker("run", "--rm", "--network", "none",
                       f"{faults.registry.address}/{ns}/attacker:1.0.0", "cat", "/attack.txt").stdout
    if network == "default":  # the engine's bridge: the host's loopback, where the registry listens, is not there
        assert "HTTP/1." not in seen and "nc exit 0" not in seen, seen
    else:  # the host network reaches the registry, which refuses a request without the login
        assert re.search(r"HTTP/1\.[01] 401", seen), seen
    assert result.returncode == 0, result.stdout + result.stderr
    assert_truthful(result.stdout + result.stderr, faults, ns)
    outcome(f"build step DELETEs a release ({network} network)", "untouched", seconds,
            seen.strip().splitlines()[0] if seen.strip() else "(nothing)")
