"""Bad input never leaks: a value given under the wrong key is not echoed, and a tests file linked
from outside the resource folder is refused without being read."""
from __future__ import annotations

from pathlib import Path

import pytest

from calvin_tasks.errors import InputError
from calvin_tasks.project import load_project

CORPUS = Path(__file__).resolve().parent / "bad_inputs"


def test_a_value_under_the_wrong_key_is_not_echoed(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(CORPUS / "env-wrong-type", tmp_path / "p")
    dev = tmp_path / "p" / "configs" / "environments" / "dev.yaml"
    dev.write_text(dev.read_text().replace('"8080"', "PORT_SECRET_xyz"))
    with pytest.raises(InputError) as raised:
        load_project(tmp_path / "p")
    assert "expected an integer, found a string" in str(raised.value)
    assert "PORT_SECRET_xyz" not in str(raised.value)


def test_a_tests_file_linked_from_outside_is_never_read() -> None:
    with pytest.raises(InputError) as raised:
        load_project(CORPUS / "tests-link-outside")
    text = str(raised.value)
    assert "the tests file 'tests.yaml' is outside the resource folder" in text
    assert "outside.yaml" not in text.replace("points to ../../outside.yaml", "")  # its content: not parsed
    assert "YAML syntax error" not in text
