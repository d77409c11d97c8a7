"""The no-op run of this checkout's Calvin against an earlier commit's, on the same kind of trees.

    make bench-compare BEFORE=9251d80       # BENCH_SIZES (default 50,500), BENCH_REPEAT (default 9)

Each side gets a generated tree × N of its own (same shape and size, its own namespace and salt),
built cold once by its own Calvin. Then the no-op `doit` runs alternately, before and after, the
side that goes first swapping every round, so both see the same machine load. Reported per side:
the median and the fastest wall time, and the CPU time (user + system) of the doit process — the
CPU time moves less with the load of other work on the machine than the wall time does. Bytecode
is cached (PYTHONPYCACHEPREFIX in the work folder), as on any machine after the first run.

It runs on a dockerd of its own (as `make bench`) when it can, else on the shared engine, and
removes every image it made. Writes bench/compare.json.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .engine import DEFAULT_SOCKET, EngineProbe, PrivateEngine
from .generate import generate
from .measure import DOIT, REPO, env_int

RESULTS = REPO / "bench" / "compare.json"
SIDES = ("before", "after")


def code_of(revision: str | None, target: Path) -> str:
    """calvin_tasks/ of `revision` (None: the working tree as it is now) under target; its description."""
    target.mkdir(parents=True)
    if revision is None:
        shutil.copytree(REPO / "calvin_tasks", target / "calvin_tasks",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        head = _git("rev-parse", "--short", "HEAD")
        return f"the working tree (commit {head}{' + changes' if _git('status', '--porcelain', '--', 'calvin_tasks') else ''})"
    archive = subprocess.run(["git", "archive", revision, "calvin_tasks"], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return f"commit {_git('rev-parse', '--short', revision)}"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


class Side:
    """One Calvin (a copy of calvin_tasks/) and its project."""

    def __init__(self, name: str, code: Path, work: Path, docker_host: str) -> None:
        self.name, self.code, self.work = name, code, work
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("CALVIN_") and k != "PYTHONDONTWRITEBYTECODE"}
        self.env.update(DOCKER_HOST=docker_host, PYTHONPATH=str(code), PYTHONPYCACHEPREFIX=str(work / "pycache"))
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def run(self, project: Path, log: Path) -> tuple[float, float]:
        """One `doit` in project: (wall, cpu) seconds; a failing run ends the benchmark."""
        with log.open("ab") as out:
            started = time.perf_counter()
            process = subprocess.Popen([DOIT], cwd=project, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{self.name}: doit failed in {project} (log {log})")
        return wall, usage.ru_utime + usage.ru_stime

    def summary(self) -> dict[str, float]:
        return {"wall_median_s": round(statistics.median(self.wall), 3), "wall_min_s": round(min(self.wall), 3),
                "cpu_median_s": round(statistics.median(self.cpu), 3), "cpu_min_s": round(min(self.cpu), 3)}


def compare(size: int, sides: dict[str, Side], work: Path, prefix: str, namespaces: list[str],
            repeat: int) -> dict[str, Any]:
    projects = {}
    for name, side in sides.items():
        namespace = f"{prefix}-{name}-{size}"
        namespaces.append(namespace)
        projects[name] = work / namespace
        generate(projects[name], size, "tree", namespace=namespace, salt=secrets.token_hex(8))
        wall, _ = side.run(projects[name], work / f"{namespace}.cold.log")
        print(f"tree × {size}: {name} built cold in {wall:.1f} s", flush=True)
        side.run(projects[name], work / f"{namespace}.log")  # the first no-op writes the bytecode cache
        side.wall, side.cpu = [], []
    load = os.getloadavg()[0]
    for round_ in range(repeat):
        for name in (SIDES if round_ % 2 == 0 else SIDES[::-1]):
            wall, cpu = sides[name].run(projects[name], work / f"{prefix}-{name}-{size}.log")
            sides[name].wall.append(wall)
            sides[name].cpu.append(cpu)
    summaries = {name: side.summary() for name, side in sides.items()}
    print(f"tree × {size} no-op, {repeat} runs each: " + "; ".join(
        f"{name} median {s['wall_median_s']:.3f} s (fastest {s['wall_min_s']:.3f}), cpu {s['cpu_median_s']:.3f} s"
        for name, s in summaries.items()), flush=True)
    return {"size": size, "shape": "tree", "runs": repeat,
            "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)], **summaries}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sizes = [int(s) for s in (os.environ.get("BENCH_SIZES") or "50,500").split(",") if s.strip()]
    repeat = env_int("BENCH_REPEAT", 9)
    work = Path(tempfile.mkdtemp(prefix="calvin-compare-"))
    engine = PrivateEngine(work) if PrivateEngine.possible() and os.environ.get("BENCH_ENGINE") != "shared" else None
    prefix = f"calvin-compare-{secrets.token_hex(3)}"
    namespaces: list[str] = []
    probe: EngineProbe | None = None
    try:
        described = {"before": code_of(sys.argv[1], work / "before"), "after": code_of(None, work / "after")}
        if engine is not None:
            engine.start()
        docker_host = engine.base_url if engine is not None else os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
        probe = EngineProbe(docker_host)
        sides = {name: Side(name, work / name, work, docker_host) for name in SIDES}
        print(f"before: {described['before']}; after: {described['after']}; engine {docker_host}", flush=True)
        rows = [compare(size, sides, work, prefix, namespaces, repeat) for size in sizes]
        RESULTS.write_text(json.dumps({"before": described["before"], "after": described["after"],
                                       "engine": "private dockerd" if engine is not None else docker_host,
                                       "rows": rows}, indent=2) + "\n")
        print(f"wrote {RESULTS.relative_to(REPO)}")
        return 0
    finally:
        if probe is not None:
            print(f"cleaned up: {probe.clean(namespaces)} images", flush=True)
            probe.close()
        if engine is not None:
            engine.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
