"""Files Calvin writes: whole or not at all, readable like any file the user's tools write."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# The process's umask, read once at import (reading it means setting it, which is not safe once
# threads run): a written file gets the mode `open()` would give it, 0644 under the usual 022.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename: an interrupted run never leaves half a file.
    mkstemp makes the temporary file 0600; the file keeps the mode a plain write would give it,
    so reports and manifests are readable by CI's other users and steps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            os.fchmod(out.fileno(), FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


_parsed: dict[tuple[str, int, int, int], Any] = {}


def read_json(path: Path | str) -> Any:
    """The JSON document in `path`, parsed once per process while the file stays the same (inode,
    size, modification time): a run asks for a resource's records at several stages. Raises
    OSError and ValueError as reading and parsing do. The result is shared: never change it."""
    name = os.fspath(path)
    status = os.stat(name)
    key = (name, status.st_ino, status.st_size, status.st_mtime_ns)
    if key not in _parsed:
        # unbuffered bytes (json decodes UTF-8 itself): a no-op run reads a few small files per resource
        with open(name, "rb", buffering=0) as handle:
            status = os.fstat(handle.fileno())
            key = (name, status.st_ino, status.st_size, status.st_mtime_ns)  # what was read, exactly
            _parsed[key] = json.loads(handle.readall())
    return _parsed[key]
