"""The warning about resources that declare no smoke tests: one line, named by file, printed once."""
from __future__ import annotations

import subprocess
from pathlib import Path

from calvin_tasks.project import load_project
from calvin_tasks.validate import untested_warning
from helpers import DOIT, make_project
from test_plan_equals_run import resource_files


def test_resources_without_smoke_tests_are_named_in_one_warning(tmp_path: Path) -> None:
    files: dict[str, str | bytes | Path] = {}
    for name in ("a", "b", "c"):
        files.update(resource_files(name, None))
    files["resources/a/tests.yaml"] = ""
    (tmp_path / "resources" / "b").mkdir(parents=True)
    files["resources/b/resource.yaml"] = "description: b\ngroup: base\nversion: 1.0.0\ntests: none\n"
    files["resources/b/tests.yaml"] = ""
    make_project(tmp_path, files)

    warning = untested_warning(load_project(tmp_path).resources)

    assert warning is not None and "1 resource(s) declare no smoke tests" in warning
    assert "a (resources/a/resource.yaml)" in warning and "b (" not in warning and "c (" not in warning
    assert "tests: none" in warning


def test_a_large_project_names_its_first_untested_resources_then_counts_the_rest(tmp_path: Path) -> None:
    files: dict[str, str | bytes | Path] = {}
    names = [f"r{i:02d}" for i in range(13)]
    for name in names:
        files.update(resource_files(name, None))
        files[f"resources/{name}/tests.yaml"] = ""
    make_project(tmp_path, files)

    warning = untested_warning(load_project(tmp_path).resources)

    assert warning is not None and "13 resource(s) declare no smoke tests" in warning
    assert all(f"{name} (resources/{name}/resource.yaml)" in warning for name in names[:10])
    assert "r10 (" not in warning and "and 3 more" in warning


def test_doit_config_prints_the_untested_warning_once(tmp_path: Path) -> None:
    files: dict[str, str | bytes | Path] = dict(resource_files("a", None))
    del files["resources/a/tests.yaml"]
    make_project(tmp_path, files)

    done = subprocess.run([*DOIT, "config"], cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    assert (done.stdout + done.stderr).count("declare no smoke tests") == 1
    assert "a (resources/a/resource.yaml)" in done.stdout + done.stderr
