"""Calvin against the baseline (`docker build` in topological order), on the same engine, in one process.

    make bench                              # the full matrix (about 30 min on 2 busy CPUs)
    BENCH_SIZES=10,50 make bench            # a short run

Environment:
    BENCH_SIZES        sizes to run (default 10,50,200,500)
    BENCH_SHAPES       shapes for every size (default: chain, wide, tree up to 50 resources; tree above;
                       chains are capped at 50 resources, see bench/generate.py)
    BENCH_ENGINE       private (default when root and dockerd exist): a dockerd of the benchmark's own,
                       removed afterwards; shared: the engine at DOCKER_HOST / /var/run/docker.sock
    BENCH_REPEAT       most runs of a cheap scenario, median reported (default 5)
    BENCH_BUDGET       seconds after which a repeated scenario stops repeating (default 20)
    BENCH_ROOT_MAX     largest size for the root-changed scenario (default 50: it rebuilds everything,
                       as long as a cold build)
    BENCH_REGISTRY_MAX largest size for the registry scenarios (default 200: publishing pushes 3 tags
                       per resource)
    BENCH_REGISTRY_SHAPES  shapes for the registry scenarios (default tree)
    BENCH_PARALLEL     children of the I/O-bound wide graph for -n 4 vs serial (default 12; 0 skips it)
    BENCH_KEEP=1       keep the generated projects and logs (printed at the end)

    python -m bench.run --render            # rewrite BENCHMARKS.md from bench/results.json

Writes BENCHMARKS.md and bench/results.json; removes every image it made at the end.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from . import scenarios
from .engine import DEFAULT_SOCKET, EngineProbe, PrivateEngine, describe_machine
from .findings import findings, targets
from .measure import REPO, Bench, env_int
from .registry import RegistryProcess, installed as registry_installed, start_registry
from .report import CAVEATS, REPORT, RESULTS, render, write


def main() -> int:
    """Run the matrix (or, with --render, only rewrite the report) and clean up everything it made."""
    if sys.argv[1:] == ["--render"]:
        return render()
    sizes = [int(s) for s in (os.environ.get("BENCH_SIZES") or "10,50,200,500").split(",") if s.strip()]
    mode = os.environ.get("BENCH_ENGINE") or ("private" if PrivateEngine.possible() else "shared")
    work = Path(tempfile.mkdtemp(prefix="calvin-bench-"))
    revision = _revision()
    tree_digest = snapshot(work)
    began = time.monotonic()
    load_start = os.getloadavg()[0]
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    engine = PrivateEngine(work) if mode == "private" else None
    registry: RegistryProcess | None = None
    bench: Bench | None = None
    probe: EngineProbe | None = None
    try:
        if engine is not None:
            engine.start()
            docker_host = engine.base_url
        else:
            docker_host = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
        print(f"engine: {mode} ({docker_host}); work: {work}", flush=True)
        if registry_installed():
            registry = start_registry(work / "registry")
            print(f"registry: {registry.address}", flush=True)
        probe = EngineProbe(docker_host)
        bench = Bench(work, probe, docker_host, registry)
        machine = describe_machine(probe)
        floors = scenarios.floors(bench)
        pairs = scenarios.matrix(sizes)
        doc: dict[str, Any] = {}

        def save() -> None:
            rows = [r.summary() for r in bench.rows]
            doc.update({
                "command": _command(),
                "started": started,
                "duration_s": round(time.monotonic() - began, 1),
                "engine_mode": "a private dockerd of the benchmark's own" if mode == "private"
                else f"the shared engine at {docker_host}",
                "machine": machine,
                "python": platform.python_version(),
                "doit_version": _doit_version(),
                "calvin_revision": f"{revision} (calvin_tasks/ snapshot {tree_digest}, copied at the start)",
                "budget_s": bench.budget,
                "sizes": sizes,
                "matrix": [f"{s}×{n}" for s, n in pairs],
                "rows": rows,
                "targets": targets(rows),
                "profiles": bench.profiles,
                "floors_s": floors,
                "load_average_1min": {"at_start": round(load_start, 2),
                                      "per_configuration": [round(x, 2) for x in bench.load],
                                      "at_end": round(os.getloadavg()[0], 2)},
                "parallel_build_seconds": bench.parallel_builds,
                "parallel_children": env_int("BENCH_PARALLEL", 12),
                "caveats": CAVEATS,
            })
            doc["findings"] = findings(doc)
            write(doc)

        for shape, n in pairs:
            scenarios.config(bench, shape, n)
            save()
        children = env_int("BENCH_PARALLEL", 12)
        if children:
            scenarios.parallel(bench, children)
        save()
        print(f"wrote {REPORT.relative_to(REPO)} and {RESULTS.relative_to(REPO)} "
              f"in {(time.monotonic() - began) / 60:.1f} min", flush=True)
        for t in doc["targets"]:
            print(f"  {'not run' if t['met'] is None else 'met   ' if t['met'] else 'MISSED'}  {t['target']}: {t['measured']}")
        return 0
    finally:
        if probe is not None and bench is not None:
            removed = probe.clean(bench.namespaces)
            print(f"cleaned up: {removed} images of {len(bench.namespaces)} benchmark namespaces", flush=True)
        if probe is not None:
            probe.close()
        if registry is not None:
            registry.stop()
        if engine is not None:
            engine.stop()
        if os.environ.get("BENCH_KEEP"):
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _command() -> str:
    settings = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                        if k.startswith("BENCH_"))
    base = "make bench" if os.environ.get("MAKELEVEL") else "python -m bench.run"
    return f"{settings} {base}".strip()


def snapshot(work: Path) -> str:
    """Copy calvin_tasks/ as it is now: every run of this benchmark uses the same Calvin even while
    people edit the working tree. Returns a digest of the copied files."""
    target = work / "snapshot" / "calvin_tasks"
    shutil.copytree(REPO / "calvin_tasks", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    digest = hashlib.sha256()
    for path in sorted(target.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(target).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "calvin_tasks")
    return f"commit {head}" + (" + uncommitted changes in calvin_tasks/" if dirty else "")


def _doit_version() -> str:
    try:
        return version("doit")
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
