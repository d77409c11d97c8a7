"""`doit bump`, `doit why` and `doit graph` against the real Docker engine, on tiny busybox images.

The parent edit of a 3-chain: one run stops naming all three and the command that fixes them,
one `doit bump <root> --cascade`, then one run builds and releases each exactly once.
"""
from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest

from calvin_tasks.project import load_project
from helpers import child_resource, make_project, ran, root_resource, run_doit

pytestmark = pytest.mark.engine

CHAIN = ["root", "curl", "scm"]


def chain(tmp_path: Path) -> Path:
    files = {**root_resource("root"), **child_resource("curl", "root"), **child_resource("scm", "curl")}
    # a first step of this test's own: another session's cleanup cannot prune a shared cached step under us
    files["resources/root/Dockerfile"] = str(files["resources/root/Dockerfile"]).replace(
        "FROM scratch\n", f"FROM scratch\nLABEL calvin.test-salt={secrets.token_hex(6)}\n", 1)
    files["resources/curl/resource.yaml"] = (f"# curl on root\n{files['resources/curl/resource.yaml']}"
                                             .replace("version: 1.0.0\n", "version: '1.0.0'   # the release tag\n"))
    return make_project(tmp_path / "project", files)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def summary(result: subprocess.CompletedProcess[str]) -> str:
    return next((line for line in result.stdout.splitlines() if line.startswith("calvin: ")), "")


def edit_root(project: Path) -> None:
    dockerfile = project / "resources" / "root" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN echo changed > /changed\n")


def test_a_parent_change_takes_one_bump_and_one_run(tmp_path: Path, namespace: str) -> None:
    project = chain(tmp_path)
    first = run_doit(project, namespace=namespace)
    assert first.returncode == 0, output(first)
    assert ran(first, "release") == sorted(CHAIN)

    edit_root(project)
    stopped = run_doit(project, namespace=namespace)
    print("$ doit\n" + output(stopped))
    assert stopped.returncode != 0 and ran(stopped, "build") == [], output(stopped)
    listed = [line.split(":")[0].strip() for line in stopped.stdout.splitlines()
              if re.match(r"^  [a-z]+: version not bumped", line)]
    assert listed[:3] == CHAIN, output(stopped)  # every one of them, in build order (then again in the summary)
    assert "give them new versions with `doit bump root --cascade`" in stopped.stdout

    curl_yaml = (project / "resources" / "curl" / "resource.yaml").read_text()
    bumped = run_doit(project, "bump", "root", "--cascade", namespace=namespace)
    print("$ doit bump root --cascade\n" + output(bumped))
    assert bumped.returncode == 0, output(bumped)
    assert "root: 1.0.0 → 1.0.1   resources/root/resource.yaml:3\n" in bumped.stdout
    assert "curl: 1.0.0 → 1.0.1   resources/curl/resource.yaml:4 (parent root bumped)\n" in bumped.stdout
    assert "scm: 1.0.0 → 1.0.1   resources/scm/resource.yaml:3 (parent root bumped)\n" in bumped.stdout
    assert (project / "resources" / "curl" / "resource.yaml").read_text() == curl_yaml.replace("'1.0.0'", "'1.0.1'")
    assert {n: r.version for n, r in load_project(project).resources.items()} == dict.fromkeys(CHAIN, "1.0.1")

    final = run_doit(project, namespace=namespace)
    print("$ doit\n" + summary(final))
    assert final.returncode == 0, output(final)
    assert ran(final, "build") == sorted(CHAIN) and ran(final, "release") == sorted(CHAIN), output(final)
    assert len([line for line in final.stdout.splitlines() if line.startswith(".  build:")]) == 3
    assert len([line for line in final.stdout.splitlines() if line.startswith(".  release:")]) == 3


def test_why_names_what_changed_since_the_released_image(tmp_path: Path, namespace: str) -> None:
    project = chain(tmp_path)
    assert run_doit(project, namespace=namespace).returncode == 0
    edit_root(project)
    (project / "resources" / "curl" / "tests.yaml").write_text("files:\n  - path: /note.txt\n    exists: true\n")

    result = run_doit(project, "why", "curl", "scm", namespace=namespace)
    print(output(result))
    assert result.returncode == 0, output(result)
    assert ("  changed since curl:1.0.0 in the release store:\n"
            "    - parent changed: root (files changed: Dockerfile)\n"
            "    - smoke tests added: tests.yaml\n") in result.stdout
    assert ("  changed since scm:1.0.0 in the release store:\n"
            "    - parent changed: curl ← root (files changed: Dockerfile)\n") in result.stdout
    assert re.search(r"^  release:scm +blocked +version not bumped", result.stdout, re.M), result.stdout

    info = run_doit(project, "info", "build:scm", namespace=namespace)
    assert "<function" not in info.stdout and "Dockerfile  file - " in info.stdout, output(info)


def test_graph_draws_each_resource_in_its_state(tmp_path: Path, namespace: str) -> None:
    project = chain(tmp_path)
    assert run_doit(project, "release:root", namespace=namespace).returncode == 0
    result = run_doit(project, "graph", namespace=namespace)
    print(output(result))
    assert result.returncode == 0, output(result)
    dot_text = (project / "out" / "graph.dot").read_text()
    assert 'label="root\\n1.0.0 · base\\nup to date"' in dot_text
    assert 'label="curl\\n1.0.0 · build\\nto build"' in dot_text
    assert '"root" -> "curl";' in dot_text and '"curl" -> "scm";' in dot_text
    if (project / "out" / "graph.svg").exists() or "graph: out/graph.svg" in result.stdout:
        assert "<title>curl&#45;&gt;scm</title>" in (project / "out" / "graph.svg").read_text()
    else:
        assert "install Graphviz" in result.stdout
