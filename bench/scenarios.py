"""Scenarios: what the benchmark asks of Calvin and the baseline, per configuration (shape × N).

A configuration is a cold build, then the no-op, one leaf changed, the doit database deleted, the
root changed and, with a registry, the registry scenarios; `parallel` is the I/O-bound wide graph
run serially and with `-n 4`, `floors` the cost of starting Python before any work, and `matrix`
which configurations a run covers.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from .findings import TARGET_NOOP
from .generate import MAX_CHAIN, SHAPES, bump, descendants, edit, leaves
from .measure import Bench, Row, Run, build_durations, env_int
from .profile import profile_noop

DB_FILE = ".doit.sqlite3"


def matrix(sizes: list[int]) -> list[tuple[str, int]]:
    """(shape, N) pairs to run: every shape up to 50 resources, trees above (or BENCH_SHAPES)."""
    forced = [s.strip() for s in (os.environ.get("BENCH_SHAPES") or "").split(",") if s.strip()]
    pairs = []
    for n in sizes:
        shapes = forced or (list(SHAPES) if n <= 50 else ["tree"])
        for shape in shapes:
            if shape == "chain" and n > MAX_CHAIN:
                print(f"skipping chain × {n}: chains are capped at {MAX_CHAIN} (overlay2 layer depth)")
                continue
            pairs.append((shape, n))
    return pairs


def config(bench: Bench, shape: str, n: int) -> None:
    """Every scenario of one configuration, on two copies of one tree (Calvin's and the baseline's)."""
    bench.load.append(os.getloadavg()[0])
    print(f"{shape} × {n} (load average {bench.load[-1]:.1f})", flush=True)
    c_root, c_ns, nodes = bench.project(shape, n, "c")
    b_root, b_ns, _ = bench.project(shape, n, "b")
    everything = [node.name for node in nodes]
    root = nodes[0].name
    leaf = leaves(nodes)[-1]
    stamp = iter(range(1, 10**6))

    cold = bench.add(Row("cold", shape, n, everything, [bench.calvin(c_root, c_ns)], [bench.baseline(b_root, b_ns)]))
    if any(r.exit for r in cold.calvin):
        cold.note = "Calvin's cold build failed: later scenarios of this configuration are not meaningful"

    noop = bench.add(Row("no-op", shape, n, [], bench.repeated(lambda: bench.calvin(c_root, c_ns)),
                         bench.repeated(lambda: bench.baseline(b_root, b_ns))))
    if n in TARGET_NOOP:  # profiled whether the target is met or not; the report shows the slowest shape
        bench.profiles.append(profile_noop(bench.work, bench.env(), c_root, shape, n))

    def change_leaf(project: Path) -> Callable[[], None]:
        return lambda: _change(project, [leaf], [leaf], f"leaf {next(stamp)}")

    bench.add(Row("leaf changed", shape, n, [leaf],
                  bench.repeated(lambda: bench.calvin(c_root, c_ns), change_leaf(c_root), most=3),
                  bench.repeated(lambda: bench.baseline(b_root, b_ns), change_leaf(b_root), most=3)))

    bench.add(Row("db deleted", shape, n, [],
                  bench.repeated(lambda: bench.calvin(c_root, c_ns), lambda: _delete_db(c_root)),
                  noop.baseline, note="the baseline has no database: its column is its no-op",
                  baseline_ref="no-op"))

    if n <= env_int("BENCH_ROOT_MAX", 50):
        subtree = sorted({root} | descendants(nodes, root))
        for project in (c_root, b_root):
            # A new fingerprint under a released version is refused ("version not bumped"), so the
            # user bumps the root and every descendant; the baseline ignores resource.yaml.
            _change(project, [root], subtree, f"root {next(stamp)}")
        bench.add(Row("root changed", shape, n, subtree, [bench.calvin(c_root, c_ns)],
                      [bench.baseline(b_root, b_ns)]))

    registry_shapes = (os.environ.get("BENCH_REGISTRY_SHAPES") or "tree").split(",")
    if bench.registry and n <= env_int("BENCH_REGISTRY_MAX", 200) and shape in registry_shapes:
        _registry_scenarios(bench, shape, n, c_root, c_ns)
    bench.probe.remove_local(c_ns)
    bench.probe.remove_local(b_ns)


def _registry_scenarios(bench: Bench, shape: str, n: int, project: Path, namespace: str) -> None:
    """Calvin alone, with the registry configured: publishing, then getting images back from it."""
    def run() -> Run:
        return bench.calvin(project, namespace, registry=True)

    publish = bench.add(Row("registry publish", shape, n, [], [run()],
                            note="Calvin only: pushes every resource (3 tags) to the registry, builds nothing"))
    if any(r.exit for r in publish.calvin):
        return
    bench.add(Row("images removed", shape, n, [],
                  bench.repeated(run, lambda: _remove_local(bench, namespace)),
                  note="Calvin only: every local image of the namespace removed, the registry "
                       "configured; the baseline has no equivalent (it would rebuild everything)"))
    bench.add(Row("fresh clone", shape, n, [],
                  bench.repeated(run, lambda: _fresh_clone(bench, project, namespace)),
                  note="Calvin only: local images, doit database and out/ removed, the registry "
                       "configured"))


def parallel(bench: Bench, children: int, sleep: float = 2.0) -> None:
    """A wide graph whose children sleep in their RUN: serial against `doit -n 4 -P thread`."""
    n = children + 1
    print(f"parallel: wide × {n}, every child RUN sleep {sleep:g}", flush=True)
    for label, tool, args, jobs in (("serial", "c", (), 1), ("-n 4 -P thread", "p", ("-n", "4", "-P", "thread"), 4)):
        c_root, c_ns, nodes = bench.project("wide", n, tool, sleep=sleep)
        b_root, b_ns, _ = bench.project("wide", n, tool + "b", sleep=sleep)
        everything = [node.name for node in nodes]
        row = bench.add(Row(f"parallel {label}", "wide", n, everything, [bench.calvin(c_root, c_ns, *args)],
                            [bench.baseline(b_root, b_ns, jobs)],
                            note="baseline: level by level, xargs -P 4" if jobs > 1 else "baseline: serial"))
        bench.parallel_builds[label] = build_durations(Path(row.calvin[0].log))
        bench.probe.remove_local(c_ns)
        bench.probe.remove_local(b_ns)


def floors(bench: Bench) -> dict[str, float]:
    """What every `doit` run pays before any work: the interpreter, then importing Calvin and doit."""
    out = {}
    for label, code in (("python -c pass", "pass"),
                        ("python -c 'import calvin_tasks.tasks' (doit included)", "import calvin_tasks.tasks"),
                        ("python -c 'import docker'", "import docker"),
                        ("python -c 'import jsonschema'", "import jsonschema")):
        walls = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=bench.env(), cwd=bench.work, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t0)
        out[label] = round(statistics.median(walls[1:]), 3)
    return out


def _change(project: Path, edited: list[str], bumped: list[str], stamp: str) -> None:
    edit(project, edited, stamp)
    bump(project, bumped)


def _remove_local(bench: Bench, namespace: str) -> None:
    bench.probe.remove_local(namespace)


def _delete_db(project: Path) -> None:
    for path in project.glob(DB_FILE + "*"):
        path.unlink()


def _fresh_clone(bench: Bench, project: Path, namespace: str) -> None:
    _remove_local(bench, namespace)
    _delete_db(project)
    shutil.rmtree(project / "out", ignore_errors=True)
