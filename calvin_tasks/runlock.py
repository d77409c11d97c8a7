"""One run at a time per checkout: a lock file that says who holds it.

The lock is an flock on `.calvin/run.lock`, held until the process ends (so a killed run frees
it). Its content names the holder — pid, host, since — for the run that has to wait.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Callable, Iterator

from .errors import StepFailed
from .model import TIMESTAMP

LOCK_FILE = Path(".calvin") / "run.lock"
RUN_ID = os.urandom(6).hex()  # this process's run: labels its containers
RUN_LABEL, HOST_LABEL, PID_LABEL = "calvin.run", "calvin.run-host", "calvin.run-pid"
_held: dict[Path, IO[str]] = {}


def holder_text(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another run (no details recorded)"


def acquire(root: Path, wait: float, say: Callable[[str], None]) -> None:
    """Take this checkout's run lock, waiting at most `wait` seconds for the run that holds it."""
    path = (root / LOCK_FILE).resolve()
    if path in _held:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = holder_text(path)
            if time.monotonic() >= deadline:
                handle.close()
                raise StepFailed(f"another run of this checkout holds {LOCK_FILE} ({holder}) — wait for it to "
                                 f"finish, or stop it; this run waited {wait:g} s (run.lock_wait)") from None
            if not told:
                say(f"waiting for the run that holds {LOCK_FILE}: {holder} (at most {wait:g} s)")
                told = True
            time.sleep(0.2)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run": RUN_ID,
                             "since": datetime.now(timezone.utc).strftime(TIMESTAMP)}))
    handle.flush()
    _held[path] = handle


def owner_gone(labels: dict[str, str]) -> bool:
    """Whether the run that labelled a container has provably ended: it ran on this host and its
    process no longer exists. Containers of other hosts' runs are never judged gone."""
    if labels.get(RUN_LABEL) == RUN_ID:
        return True  # our own, from an earlier check of this run
    if RUN_LABEL not in labels:
        return True  # made before runs were labelled: its run has ended
    if labels.get(HOST_LABEL) != socket.gethostname():
        return False
    try:
        os.kill(int(labels.get(PID_LABEL, "0")), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


def run_labels() -> dict[str, str]:
    return {RUN_LABEL: RUN_ID, HOST_LABEL: socket.gethostname(), PID_LABEL: str(os.getpid())}


@contextlib.contextmanager
def step_lock(key: str, wait: float) -> Iterator[None]:
    """One step on `key` at a time on this host (a build of one content fingerprint, a release of one
    version): runs of different checkouts sharing an engine and a registry take turns, and the later
    one finds the earlier one's image or release instead of racing it."""
    folder = Path(tempfile.gettempdir()) / "calvin-steps"
    folder.mkdir(mode=0o1777, exist_ok=True)
    path = folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")
    with open(path, "a+", encoding="utf-8") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StepFailed(f"another run has been busy with {key} for {wait:g} s (run.lock_wait)") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
