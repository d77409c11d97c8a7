"""`doit dumpdb` for the sqlite3 dependency file Calvin's [tool.doit] settings choose.

doit's own dumpdb only reads dbm files: with `backend = "sqlite3"` it stopped with "db type could
not be determined". This command prints the sqlite3 file the same way (task -> its saved values)
and leaves any other file to doit's. Registered as a doit command plugin (pyproject.toml,
entry point group `doit.COMMAND`), so it replaces the built-in one wherever Calvin is installed.
"""
from __future__ import annotations

import json
import pprint
import sqlite3
from pathlib import Path
from typing import Any

from doit.cmd_dumpdb import DumpDB as DoitDumpDB  # type: ignore[import-untyped]
from doit.exceptions import InvalidCommand  # type: ignore[import-untyped]

SQLITE_HEADER = b"SQLite format 3\x00"


class DumpDB(DoitDumpDB):  # type: ignore[misc]
    """dump dependency DB"""

    def execute(self, opt_values: dict[str, Any], pos_args: list[str]) -> Any:
        path = Path(opt_values["dep_file"])
        try:
            with path.open("rb") as handle:
                is_sqlite = handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
        except OSError:
            raise InvalidCommand(f"no dependency file at {path}: nothing has run here yet") from None
        if not is_sqlite:
            return super().execute(opt_values, pos_args)
        print("DBM type is 'sqlite3'")
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = connection.execute("select task_id, task_data from doit order by task_id").fetchall()
            finally:
                connection.close()
        except sqlite3.DatabaseError as err:
            raise InvalidCommand(f"{path} is not a doit dependency file: {err}") from None
        for task_id, data in rows:
            value = json.loads(data) if isinstance(data, (str, bytes)) else data
            print(f"{task_id} -> {pprint.pformat(value, indent=4, width=100)}")
        return 0
