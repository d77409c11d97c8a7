"""The bad-input corpus (SPEC §7): every user mistake gives one clear message, never a build.

Each folder `tests/bad_inputs/<case>/` is a small broken project (`resources/...`, optionally
`configs/pipeline.yaml`) and an `expect.yaml`:

    why: one line saying what user mistake this is
    errors:                          # every problem the message must report
      - file: resources/app/resource.yaml   # as printed, relative to the project root
        line: 3                      # omitted only where no line applies (a link, an encoding)
        message: "unknown key 'grup'.*did you mean 'group'"   # regex searched in that output line
    xfail: "reason"                  # optional: a known Calvin bug; or {load: reason, doit: reason}

A problem line must *start* with `file:line` (or `file` when no line applies), followed by
" · " or ": ", as `Problem.__str__` prints it: an absolute path or another file's path is wrong.
"""
from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from calvin_tasks.errors import InputError
from calvin_tasks.project import load_project
from helpers import doit_table, remove_namespace, run_doit

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
EXPECT_FILE = "expect.yaml"
MIN_CASES = 24
DOIT_TIMEOUT = 120
TEST_KINDS = ("load", "doit")
DODO = "from calvin_tasks.tasks import *  # noqa: F401,F403\n"


def case_dirs() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else []


def read_expect(case: Path) -> dict[str, Any]:
    return yaml.safe_load((case / EXPECT_FILE).read_text(encoding="utf-8"))


def xfail_reason(expect: Any, kind: str) -> str | None:
    """`xfail: reason` marks both tests; `xfail: {load: reason}` only the named one."""
    xfail = expect.get("xfail") if isinstance(expect, dict) else None
    if isinstance(xfail, str):
        return xfail
    if isinstance(xfail, dict):
        return xfail.get(kind)
    return None


def cases(kind: str) -> list[Any]:
    params = []
    for case in case_dirs():
        try:
            reason = xfail_reason(read_expect(case), kind)
        except (OSError, yaml.YAMLError):
            reason = None  # test_corpus_is_well_formed says what is wrong
        marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
        params.append(pytest.param(case.name, marks=marks, id=case.name))
    return params


def copy_case(name: str, destination: Path) -> Path:
    """The case's project (links kept as links, expect.yaml left out) in `destination`."""
    shutil.copytree(CORPUS / name, destination, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(EXPECT_FILE))
    return destination


def location(error: dict[str, Any]) -> str:
    return f"{error['file']}:{error['line']}" if error.get("line") is not None else str(error["file"])


def missing_errors(output: str, errors: list[dict[str, Any]]) -> list[str]:
    """The expected errors that no output line reports (location first, then the message)."""
    lines = [line.strip() for line in output.splitlines()]
    missing = []
    for error in errors:
        where = location(error)
        pattern = re.compile(error["message"])
        if not any((line.startswith(where + " · ") or line.startswith(where + ": ")) and pattern.search(line)
                   for line in lines):
            missing.append(f"{where}  /{error['message']}/")
    return missing


def explain(missing: list[str], output: str) -> str:
    return "expected but not reported:\n  " + "\n  ".join(missing) + "\n--- output ---\n" + output


@pytest.mark.parametrize("name", cases("load"))
def test_load_reports(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_project refuses the case with an InputError that reports every expected problem."""
    monkeypatch.delenv("CALVIN_REGISTRY", raising=False)
    expect = read_expect(CORPUS / name)
    project = copy_case(name, tmp_path / "project")

    with pytest.raises(InputError) as raised:
        load_project(project)

    output = str(raised.value)
    assert "Traceback" not in output
    missing = missing_errors(output, expect["errors"])
    assert not missing, explain(missing, output)


def images_in(client: Any, namespace: str) -> list[dict[str, Any]]:
    """Images tagged `<namespace>/*` (the low-level listing: no per-image inspect that races
    with other test runs removing their images from the same engine)."""
    return list(client.api.images(filters={"reference": f"{namespace}/*"}))


@pytest.fixture
def bad_namespace(docker_client: Any) -> Iterator[str]:
    """A namespace of this test's own; any image or container made under it is removed afterwards."""
    name = f"calvin-bad-{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        remove_namespace(docker_client, name)


@pytest.mark.engine
@pytest.mark.parametrize("name", cases("doit"))
def test_doit_refuses(name: str, tmp_path: Path, docker_client: Any, bad_namespace: str) -> None:
    """`doit` in the case's project: non-zero, every problem reported, no traceback, nothing built."""
    expect = read_expect(CORPUS / name)
    project = copy_case(name, tmp_path / "project")
    (project / "dodo.py").write_text(DODO, encoding="utf-8")
    (project / "pyproject.toml").write_text(doit_table(), encoding="utf-8")

    try:
        result = run_doit(project, namespace=bad_namespace, timeout=DOIT_TIMEOUT)
    finally:
        built = images_in(docker_client, bad_namespace)

    output = result.stdout + result.stderr
    assert result.returncode != 0, f"doit exited 0 on bad input\n{output}"
    assert "Traceback" not in output, output
    missing = missing_errors(output, expect["errors"])
    assert not missing, explain(missing, output)
    assert not built, f"images were built: {[image.get('RepoTags') for image in built]}\n{output}"


def test_corpus_is_well_formed() -> None:
    """At least MIN_CASES cases, each with a `why`, at least one error, and well-formed entries."""
    found = case_dirs()
    assert len(found) >= MIN_CASES, f"only {len(found)} bad-input cases in {CORPUS}"
    wrong: list[str] = []
    for case in found:
        try:
            expect = read_expect(case)
        except (OSError, yaml.YAMLError) as err:
            wrong.append(f"{case.name}: cannot read {EXPECT_FILE}: {err}")
            continue
        if not isinstance(expect, dict):
            wrong.append(f"{case.name}: {EXPECT_FILE} is not a mapping")
            continue
        unknown = set(expect) - {"why", "errors", "xfail"}
        if unknown:
            wrong.append(f"{case.name}: unknown keys {sorted(unknown)}")
        if not isinstance(expect.get("why"), str) or not expect["why"].strip():
            wrong.append(f"{case.name}: no 'why'")
        errors = expect.get("errors")
        if not isinstance(errors, list) or not errors:
            wrong.append(f"{case.name}: no errors listed")
            errors = []
        for index, error in enumerate(errors):
            if not isinstance(error, dict) or not isinstance(error.get("file"), str) \
                    or not isinstance(error.get("message"), str):
                wrong.append(f"{case.name}: errors[{index}] needs 'file' and 'message' strings")
                continue
            if set(error) - {"file", "line", "message"}:
                wrong.append(f"{case.name}: errors[{index}] has unknown keys")
            if "line" in error and (not isinstance(error["line"], int) or error["line"] < 1):
                wrong.append(f"{case.name}: errors[{index}].line must be a positive integer")
            try:
                re.compile(error["message"])
            except re.error as err:
                wrong.append(f"{case.name}: errors[{index}].message is not a regex: {err}")
        xfail = expect.get("xfail")
        if xfail is not None and not (
                (isinstance(xfail, str) and xfail.strip())
                or (isinstance(xfail, dict) and xfail and set(xfail) <= set(TEST_KINDS)
                    and all(isinstance(v, str) and v.strip() for v in xfail.values()))):
            wrong.append(f"{case.name}: xfail must be a reason, or a mapping of {TEST_KINDS} to reasons")
        if not (case / "resources").is_dir():
            wrong.append(f"{case.name}: no resources/ folder")
    assert not wrong, "\n".join(wrong)
