"""Where a no-op `doit` spends its time: cProfile of one run, digested for the report.

Calvin's rows are read off the profile itself, never from a list of Calvin's function names:
such a list goes stale as soon as Calvin is refactored, and a stale name is silently missing
from the report. Only the reference points around Calvin (Python's import system and doit's
load and run phases, doit pinned below 0.38 in pyproject.toml) are named here; a part the
profile does not contain is left out rather than reported as zero.
"""
from __future__ import annotations

import io
import pstats
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CALVIN = "calvin_tasks/"
CALVIN_PARTS = 10  # Calvin's heaviest named functions shown as parts of the no-op
# (label, file part, function): Python's and doit's phases; the cumulative time of the outermost call.
FRAMEWORK_PARTS = [
    ("imports (all modules, nested)", "importlib", "_find_and_load"),
    ("doit: load the tasks (runs Calvin's task creators)", "doit/loader.py", "load_tasks"),
    ("doit: run the tasks (run_all)", "doit/runner.py", "run_all"),
    ("doit: dependency database (doit/dependency.py close)", "doit/dependency.py", "close"),
]
# Where a profiled file's path starts to mean something, first match wins: installed packages,
# Calvin's snapshot (bench/run.py copies calvin_tasks/ there), this repository, the standard library.
_PREFIXES = [re.compile(r"^.*?site-packages/"), re.compile(r"^.*?/snapshot/"),
             re.compile("^" + re.escape(str(Path(__file__).resolve().parent.parent)) + "/"),
             re.compile(r"^.*?lib/python3\.\d+/")]
_FUNCTION = re.compile(r"^(?P<file>.*):(?P<line>\d+)\((?P<name>.*)\)$")


def profile_noop(work: Path, env: dict[str, str], project: Path, shape: str, n: int) -> dict[str, Any]:
    """cProfile of a no-op `doit` in the up-to-date `project`; the full listing is kept in `work`."""
    output = work / f"prof-{shape}-{n}.out"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(output), "-m", "doit"], cwd=project,
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    text = io.StringIO()
    pstats.Stats(str(output), stream=text).sort_stats("cumulative").print_stats(25)
    (work / f"prof-{shape}-{n}.txt").write_text(text.getvalue())
    print(f"  profiled the no-op of {shape} × {n}: {wall:.2f} s under cProfile", flush=True)
    return {"shape": shape, "n": n, "wall_under_profiler_s": round(wall, 3), **digest(pstats.Stats(str(output)))}


def digest(stats: pstats.Stats) -> dict[str, Any]:
    """The profile's total, its parts (`buckets`), and its top functions by cumulative and own time."""
    entries = []
    for (filename, line, function), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        entries.append({"function": f"{_short(filename)}:{line}({function})", "ncalls": nc,
                        "tottime": round(tt, 4), "cumtime": round(ct, 4)})
    by_cum = sorted(entries, key=lambda e: -e["cumtime"])
    imports = sum(e["cumtime"] for e in entries if e["function"].endswith("(_find_and_load)")
                  and "importlib" in e["function"])
    return {"profiled_total_s": round(stats.total_tt, 3),  # type: ignore[attr-defined]
            "buckets": {**framework_parts(entries), **calvin_parts(by_cum)},
            "top_cumulative": by_cum[:15],
            "top_calvin": [e for e in by_cum if e["function"].startswith(CALVIN)][:15],
            "top_tottime": sorted(entries, key=lambda e: -e["tottime"])[:10],
            "imports_cumtime_s": round(imports, 3)}


def framework_parts(entries: list[dict[str, Any]]) -> dict[str, float]:
    """Python's imports and doit's phases that the profile contains: label -> seconds."""
    parts = {}
    for label, where, function in FRAMEWORK_PARTS:
        found = [e["cumtime"] for e in entries if where in e["function"] and e["function"].endswith(f"({function})")]
        if found:
            parts[label] = round(max(found), 3)
    return parts


def calvin_parts(by_cumulative: list[dict[str, Any]]) -> dict[str, float]:
    """Calvin's heaviest named functions in this profile, as `calvin: name (calvin_tasks/file.py)`.

    Module bodies, lambdas and comprehensions are left out: they name no function a reader can
    look up. Two functions of one name in one file (e.g. nested `action`s) keep their line."""
    named = []
    for entry in by_cumulative:
        match = _FUNCTION.match(entry["function"])
        if match and match["file"].startswith(CALVIN) and not match["name"].startswith("<"):
            named.append((match, entry["cumtime"]))
    seen: dict[tuple[str, str], int] = {}
    for match, _ in named:
        seen[(match["file"], match["name"])] = seen.get((match["file"], match["name"]), 0) + 1
    parts: dict[str, float] = {}
    for match, cumtime in named[:CALVIN_PARTS]:
        where = match["file"] if seen[(match["file"], match["name"])] == 1 else f"{match['file']}:{match['line']}"
        parts[f"calvin: {match['name']} ({where})"] = round(cumtime, 3)
    return parts


def _short(filename: str) -> str:
    """A profiled file as a reader knows it: calvin_tasks/tasks.py, doit/loader.py, importlib/…"""
    for prefix in _PREFIXES:
        if prefix.match(filename):
            return prefix.sub("", filename, count=1)
    return filename
