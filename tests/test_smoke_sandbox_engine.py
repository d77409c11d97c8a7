"""A resource's own pytest checks run with a scrubbed environment and, when Calvin is root, as an
unprivileged user: they cannot read the host's environment or write to the project or root's files."""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from helpers import make_project, root_resource, run_doit

pytestmark = pytest.mark.engine

SECRET = "calvin-host-secret-do-not-leak"

# The resource's test reports what it could do, as a failing assertion, so the check's result carries it.
ESCAPE = '''
import os

def attempt(path):
    try:
        with open(path, "w") as handle:
            handle.write(os.environ.get("CALVIN_HOST_SECRET", "no secret"))
        return "wrote"
    except OSError as err:
        return type(err).__name__

def read(path):
    try:
        with open(path, "rb") as handle:
            return "secret" if b"{secret}" in handle.read() else "no secret"
    except OSError as err:
        return type(err).__name__

def test_what_the_check_can_reach():
    home = os.environ["HOME"]
    observed = dict(
        uid=os.getuid(),
        secret=os.environ.get("CALVIN_HOST_SECRET"),
        variables=sorted(k for k in os.environ if not k.startswith(("CALVIN_SMOKE_", "PYTEST_"))),
        parent_environ=read(f"/proc/{{os.getppid()}}/environ"),
        project=attempt("{project}/escaped.txt"),
        resource_folder=attempt("{project}/resources/probe/escaped.txt"),
        root=attempt("{root_file}"),
        home=attempt(os.path.join(home, "scratch.txt")),
        home_is_fresh=home.startswith(os.environ["TMPDIR"]) and "{project}" not in home,
    )
    assert False, "OBSERVED " + __import__("json").dumps(observed)
'''


@pytest.fixture
def readable_project() -> Iterator[Path]:
    """A project in a folder others may read (as a checkout usually is), so only write rights decide."""
    top = Path(tempfile.mkdtemp(prefix="calvin-sandbox-"))
    top.chmod(0o755)
    try:
        yield top / "project"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_pytest_check_sees_no_host_secret_and_cannot_write_outside_its_scratch(
        readable_project: Path, namespace: str) -> None:
    root_file = Path("/root") / f"calvin-escaped-{namespace}.txt"
    files = {**root_resource("probe", extra=f'LABEL test="{namespace}"\n'),
             "resources/probe/tests.yaml": "commands:\n  - name: shell\n    run: [\"true\"]\n",
             "resources/probe/test_escape.py": ESCAPE.format(secret=SECRET, project=readable_project,
                                                              root_file=root_file)}
    project = make_project(readable_project, files)
    for path in [project, *project.rglob("*")]:
        path.chmod(path.stat().st_mode | (0o055 if path.is_dir() else 0o044))  # readable, not writable, by others

    try:
        result = run_doit(project, namespace=namespace, env={"CALVIN_HOST_SECRET": SECRET})
        root_file_exists = root_file.exists()
    finally:
        root_file.unlink(missing_ok=True)

    assert result.returncode != 0, result.stdout  # the probe fails on purpose, to report what it saw
    report = json.loads((project / "out" / "reports" / "probe.json").read_text())
    check = next(c for c in report["checks"] if c["kind"] == "pytest")
    seen = re.search(r"AssertionError: OBSERVED (\{.*\})$", check["log"], re.MULTILINE)
    assert seen, check["log"]
    observed = json.loads(seen.group(1))
    assert observed["secret"] is None
    assert observed["variables"] == sorted(["HOME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "TMPDIR"]
                                           + (["DOCKER_HOST"] if "DOCKER_HOST" in os.environ else [])
                                           + (["PYTHONPATH"] if "PYTHONPATH" in observed["variables"] else []))
    assert observed["home"] == "wrote" and observed["home_is_fresh"] is True
    # as root, the check drops to an unprivileged user — unless that user cannot read Calvin's virtualenv,
    # which the check then says ("ran as root …"): the scrubbed environment and the scratch copy remain
    fell_back = "ran as root" in check["message"]
    if os.geteuid() == 0 and not fell_back:
        assert observed["uid"] != 0
        assert observed["parent_environ"] == "PermissionError"
        assert observed["project"] == observed["resource_folder"] == observed["root"] == "PermissionError"
        assert not (project / "escaped.txt").exists()
        assert not (project / "resources" / "probe" / "escaped.txt").exists()
        assert not root_file_exists
    if fell_back:
        assert "chmod o+rX" in check["message"]  # and says how to drop privileges
    assert SECRET not in (project / "out" / "reports" / "probe.json").read_text()
