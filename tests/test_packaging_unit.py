"""Calvin as a distribution: `pip install .` (not only the editable install `make setup` makes) gets
every module and the JSON schemas."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import REPO


def test_the_wheel_holds_every_module_and_schema_of_the_source_tree(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "calvin_tasks", source / "calvin_tasks", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "Package would be ignored" not in built.stderr
    (wheel,) = (tmp_path / "dist").glob("calvin-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    expected = {path.relative_to(REPO).as_posix() for path in (REPO / "calvin_tasks").rglob("*")
                if path.suffix in (".py", ".json") and "__pycache__" not in path.parts}
    assert expected and expected - inside == set()
