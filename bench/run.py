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

import io
import json
import os
import platform
import pstats
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .engine import DEFAULT_SOCKET, EngineProbe, PrivateEngine, PrivateRegistry, describe_machine
from .generate import MAX_CHAIN, SHAPES, Node, descendants, generate, leaves

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "bench" / "baseline.sh"
DOIT = str(Path(sys.executable).parent / "doit")
RESULTS = REPO / "bench" / "results.json"
REPORT = REPO / "BENCHMARKS.md"
DB_FILE = ".doit.sqlite3"

TARGET_NOOP = {50: 0.3, 500: 1.0}
TARGET_SPEEDUP_500 = 20.0
TARGET_PARALLEL = 3.0


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass
class Run:
    """One measured process: its wall time, exit status and what the engine did meanwhile."""

    wall: float
    exit: int
    built: list[str]
    events: dict[str, int]
    log: str


@dataclass
class Row:
    scenario: str
    shape: str
    n: int
    expected: list[str]
    calvin: list[Run] = field(default_factory=list)
    baseline: list[Run] = field(default_factory=list)
    note: str = ""
    baseline_ref: str = ""  # the baseline runs are another scenario's (named here)

    @staticmethod
    def median(runs: list[Run]) -> float | None:
        return statistics.median(r.wall for r in runs) if runs else None

    def summary(self) -> dict[str, Any]:
        c, b = self.median(self.calvin), self.median(self.baseline)

        def side(runs: list[Run]) -> dict[str, Any] | None:
            if not runs:
                return None
            return {"median_s": round(self.median(runs) or 0, 3), "runs_s": [round(r.wall, 3) for r in runs],
                    "exit": [r.exit for r in runs], "builds": [len(r.built) for r in runs],
                    "exact": all(sorted(r.built) == sorted(self.expected) for r in runs),
                    "unexpected": sorted({x for r in runs for x in r.built} - set(self.expected))[:20],
                    "missing": sorted(set(self.expected) - {x for r in runs for x in r.built})[:20],
                    "engine_events": runs[-1].events}

        log_builds = None
        if self.calvin and len(self.expected) > 1 and self.scenario in ("cold", "root changed"):
            durations = _build_durations(Path(self.calvin[0].log))
            log_builds = round(sum(durations.values()), 2) if durations else None
        return {"scenario": self.scenario, "shape": self.shape, "n": self.n, "note": self.note,
                "calvin_build_steps_s": log_builds,
                "expected_builds": len(self.expected), "calvin": side(self.calvin), "baseline": side(self.baseline),
                "baseline_ref": self.baseline_ref or None,
                "ratio_calvin_over_baseline": round(c / b, 4) if c is not None and b else None}


class Bench:
    def __init__(self, work: Path, probe: EngineProbe, docker_host: str, registry: PrivateRegistry | None) -> None:
        self.work = work
        self.probe = probe
        self.docker_host = docker_host
        self.registry = registry
        self.rows: list[Row] = []
        self.profiles: list[dict[str, Any]] = []
        self.namespaces: list[str] = []
        self.prefix = f"calvin-bench-{secrets.token_hex(3)}"
        self.repeat = _env_int("BENCH_REPEAT", 5)
        self.budget = float(os.environ.get("BENCH_BUDGET") or 20)
        self.counter = 0
        self.load: list[float] = []
        self.parallel_builds: dict[str, dict[str, float]] = {}

    # -- running things ---------------------------------------------------------------------------
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CALVIN_") and k != "PYTHONDONTWRITEBYTECODE"}
        env["DOCKER_HOST"] = self.docker_host
        # Bytecode cached as on any machine (this sandbox sets PYTHONDONTWRITEBYTECODE=1, which would
        # recompile Calvin on every run), kept in the work folder rather than in the repository.
        env["PYTHONPYCACHEPREFIX"] = str(self.work / "pycache")
        # Calvin as it was when the benchmark started (see snapshot()), ahead of the editable install.
        env["PYTHONPATH"] = os.pathsep.join(x for x in (str(self.work / "snapshot"), env.get("PYTHONPATH")) if x)
        env.update(extra or {})
        return env

    def _measure(self, command: list[str], cwd: Path, namespace: str, env: dict[str, str]) -> Run:
        self.counter += 1
        log = self.work / "logs" / f"{self.counter:04d}-{namespace}.log"
        log.parent.mkdir(exist_ok=True)
        before = self.probe.images(namespace)
        with log.open("wb") as out:
            out.write((" ".join(command) + "\n").encode())
            out.flush()
            started = time.time()
            t0 = time.perf_counter()
            process = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            ended = time.time()
        seen = self.probe.observe(namespace, before, started, ended)
        if process.returncode != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-8:])
            print(f"    ! exit {process.returncode}: {' '.join(command)} (log {log})\n{tail}", flush=True)
        return Run(wall, process.returncode, seen.built, seen.events, str(log))

    def calvin(self, project: Path, namespace: str, *args: str, registry: bool = False) -> Run:
        extra = {"CALVIN_REGISTRY": self.registry.address} if registry and self.registry else {}
        return self._measure([DOIT, *args], project, namespace, self.env(extra))

    def baseline(self, project: Path, namespace: str, jobs: int = 1) -> Run:
        return self._measure(["bash", str(BASELINE), str(project), namespace, str(jobs)], project, namespace,
                             self.env())

    def repeated(self, run: Callable[[], Run], prepare: Callable[[], None] | None = None,
                 most: int | None = None) -> list[Run]:
        """At least one run, at most `most`, stopping once the runs took the time budget."""
        runs: list[Run] = []
        spent = 0.0
        while len(runs) < (most or self.repeat):
            if prepare:
                prepare()
            runs.append(run())
            spent += runs[-1].wall
            if spent > self.budget:
                break
        return runs

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        c, b = row.median(row.calvin) or 0.0, row.median(row.baseline)

        def builds(runs: list[Run]) -> str:
            return ",".join(str(len(r.built)) for r in runs)

        text = f"  {row.scenario:<16} {row.shape:<5} {row.n:>4}  calvin {c:7.3f} s [{builds(row.calvin)} builds]"
        if b:
            text += f"  baseline {b:7.3f} s [{builds(row.baseline)} builds]  ratio {c / b:.3f}"
        print(text + f"  expected {len(row.expected)}", flush=True)
        return row

    def project(self, shape: str, n: int, tool: str, *, sleep: float = 0.0) -> tuple[Path, str, list[Node]]:
        namespace = f"{self.prefix}-{shape}-{n}-{tool}" + (f"-s{sleep:g}" if sleep else "")
        root = self.work / namespace
        nodes = generate(root, n, shape, namespace=namespace, salt=secrets.token_hex(8), sleep=sleep)
        self.namespaces.append(namespace)
        return root, namespace, nodes

    # -- scenarios ------------------------------------------------------------------------------
    def config(self, shape: str, n: int) -> None:
        self.load.append(os.getloadavg()[0])
        print(f"{shape} × {n} (load average {self.load[-1]:.1f})", flush=True)
        c_root, c_ns, nodes = self.project(shape, n, "c")
        b_root, b_ns, _ = self.project(shape, n, "b")
        everything = [node.name for node in nodes]
        root = nodes[0].name
        leaf = leaves(nodes)[-1]
        stamp = iter(range(1, 10**6))

        cold = self.add(Row("cold", shape, n, everything, [self.calvin(c_root, c_ns)], [self.baseline(b_root, b_ns)]))
        if any(r.exit for r in cold.calvin):
            cold.note = "Calvin's cold build failed: later scenarios of this configuration are not meaningful"

        noop = self.add(Row("no-op", shape, n, [], self.repeated(lambda: self.calvin(c_root, c_ns)),
                            self.repeated(lambda: self.baseline(b_root, b_ns))))
        if n in TARGET_NOOP:  # profiled whether the target is met or not; the report shows the slowest shape
            self.profile(c_root, c_ns, shape, n)

        def change_leaf(project: Path) -> Callable[[], None]:
            return lambda: _change(project, [leaf], [leaf], f"leaf {next(stamp)}")

        self.add(Row("leaf changed", shape, n, [leaf],
                     self.repeated(lambda: self.calvin(c_root, c_ns), change_leaf(c_root), most=3),
                     self.repeated(lambda: self.baseline(b_root, b_ns), change_leaf(b_root), most=3)))

        self.add(Row("db deleted", shape, n, [],
                     self.repeated(lambda: self.calvin(c_root, c_ns), lambda: _delete_db(c_root)),
                     noop.baseline, note="the baseline has no database: its column is its no-op",
                     baseline_ref="no-op"))

        if n <= _env_int("BENCH_ROOT_MAX", 50):
            subtree = sorted({root} | descendants(nodes, root))
            for project in (c_root, b_root):
                # A new fingerprint under a released version is refused ("version not bumped"), so the
                # user bumps the root and every descendant; the baseline ignores resource.yaml.
                _change(project, [root], subtree, f"root {next(stamp)}")
            self.add(Row("root changed", shape, n, subtree, [self.calvin(c_root, c_ns)],
                         [self.baseline(b_root, b_ns)]))

        registry_shapes = (os.environ.get("BENCH_REGISTRY_SHAPES") or "tree").split(",")
        if self.registry and n <= _env_int("BENCH_REGISTRY_MAX", 200) and shape in registry_shapes:
            publish = self.add(Row("registry publish", shape, n, [], [self.calvin(c_root, c_ns, registry=True)],
                                   note="Calvin only: pushes every resource (3 tags) to the registry, builds nothing"))
            if not any(r.exit for r in publish.calvin):
                self.add(Row("images removed", shape, n, [],
                             self.repeated(lambda: self.calvin(c_root, c_ns, registry=True),
                                           lambda: _remove_local(self.probe, c_ns)),
                             note="Calvin only: every local image of the namespace removed, the registry "
                                  "configured; the baseline has no equivalent (it would rebuild everything)"))
                self.add(Row("fresh clone", shape, n, [],
                             self.repeated(lambda: self.calvin(c_root, c_ns, registry=True),
                                           lambda: _fresh_clone(self.probe, c_root, c_ns)),
                             note="Calvin only: local images, doit database and out/ removed, the registry "
                                  "configured"))
        self.probe.remove_local(c_ns)
        self.probe.remove_local(b_ns)

    def parallel(self, children: int, sleep: float = 2.0) -> None:
        n = children + 1
        print(f"parallel: wide × {n}, every child RUN sleep {sleep:g}", flush=True)
        rows = []
        for label, tool, args, jobs in (("serial", "c", (), 1), ("-n 4 -P thread", "p", ("-n", "4", "-P", "thread"), 4)):
            c_root, c_ns, nodes = self.project("wide", n, tool, sleep=sleep)
            b_root, b_ns, _ = self.project("wide", n, tool + "b", sleep=sleep)
            everything = [node.name for node in nodes]
            row = self.add(Row(f"parallel {label}", "wide", n, everything, [self.calvin(c_root, c_ns, *args)],
                               [self.baseline(b_root, b_ns, jobs)],
                               note="baseline: level by level, xargs -P 4" if jobs > 1 else "baseline: serial"))
            rows.append(row)
            durations = _build_durations(Path(row.calvin[0].log))
            self.parallel_builds[label] = durations
            self.probe.remove_local(c_ns)
            self.probe.remove_local(b_ns)

    def floors(self) -> dict[str, float]:
        """What every `doit` run pays before any work: the interpreter, then importing Calvin and doit."""
        out = {}
        for label, code in (("python -c pass", "pass"),
                            ("python -c 'import calvin_tasks.tasks' (doit included)", "import calvin_tasks.tasks"),
                            ("python -c 'import docker'", "import docker"),
                            ("python -c 'import jsonschema'", "import jsonschema")):
            walls = []
            for _ in range(5):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], env=self.env(), cwd=self.work, check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                walls.append(time.perf_counter() - t0)
            out[label] = round(statistics.median(walls[1:]), 3)
        return out

    def profile(self, project: Path, namespace: str, shape: str, n: int) -> None:
        """cProfile of a no-op `doit` in the up-to-date project, sorted by cumulative time."""
        output = self.work / f"prof-{shape}-{n}.out"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(output), "-m", "doit"], cwd=project,
                       env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        stats = pstats.Stats(str(output))
        total = stats.total_tt  # type: ignore[attr-defined]
        entries = []
        for (filename, line, function), (cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            entries.append({"function": f"{_short(filename)}:{line}({function})", "ncalls": nc,
                            "tottime": round(tt, 4), "cumtime": round(ct, 4)})
        by_cum = sorted(entries, key=lambda e: -e["cumtime"])
        calvin = [e for e in by_cum if e["function"].startswith("calvin_tasks/")]
        imports = sum(e["cumtime"] for e in entries if e["function"].endswith("(_find_and_load)")
                      and "importlib" in e["function"])
        text = io.StringIO()
        pstats.Stats(str(output), stream=text).sort_stats("cumulative").print_stats(25)
        buckets = {}
        for label, where, function in BUCKETS:
            found = [e["cumtime"] for e in entries
                     if where in e["function"] and e["function"].endswith(f"({function})")]
            if found:
                buckets[label] = round(max(found), 3)
        self.profiles.append({"shape": shape, "n": n, "wall_under_profiler_s": round(wall, 3),
                              "profiled_total_s": round(total, 3), "buckets": buckets,
                              "top_cumulative": by_cum[:15],
                              "top_calvin": calvin[:15],
                              "top_tottime": sorted(entries, key=lambda e: -e["tottime"])[:10],
                              "imports_cumtime_s": round(imports, 3)})
        (self.work / f"prof-{shape}-{n}.txt").write_text(text.getvalue())
        print(f"  profiled the no-op of {shape} × {n}: {wall:.2f} s under cProfile", flush=True)


# Where a no-op's time goes: (label, file part, function) — cumulative time of the outermost match.
BUCKETS = [
    ("imports (all modules, nested)", "importlib", "_find_and_load"),
    ("doit: load the tasks (runs Calvin's task creators)", "doit/loader.py", "load_tasks"),
    ("calvin: load_project (discover, validate, graph, fingerprint)", "calvin_tasks/project.py", "load_project"),
    ("calvin: discover (read every resource.yaml)", "calvin_tasks/discover.py", "discover"),
    ("calvin: discover (scan)", "calvin_tasks/discover.py", "scan"),
    ("calvin: validate (schema and semantic checks)", "calvin_tasks/validate.py", "validate"),
    ("calvin: schema checks (check_schema)", "calvin_tasks/validate.py", "check_schema"),
    ("calvin: JSON Schema validator construction (_validator)", "calvin_tasks/validate.py", "_validator"),
    ("calvin: fingerprints (fingerprint_all)", "calvin_tasks/fingerprint.py", "fingerprint_all"),
    ("calvin: environments (load_environments)", "calvin_tasks/configs.py", "load_environments"),
    ("doit: run the tasks (run_all)", "doit/runner.py", "run_all"),
    ("calvin: uptodate callables", "calvin_tasks/tasks.py", "uptodate"),
    ("calvin: engine image listing (Engine._list)", "calvin_tasks/engine.py", "_list"),
    ("calvin: engine inspects, prefetched (Engine.prefetch)", "calvin_tasks/engine.py", "prefetch"),
    ("calvin: engine lookups (Engine.find)", "calvin_tasks/engine.py", "find"),
    ("calvin: plan task (_plan)", "calvin_tasks/tasks.py", "_plan"),
    ("calvin: manifest task (write_manifest)", "calvin_tasks/release.py", "write_manifest"),
    ("doit: dependency database (doit/dependency.py close)", "doit/dependency.py", "close"),
]


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/snapshot/", str(REPO) + "/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _build_durations(log: Path) -> dict[str, float]:
    """'<name> | built <id> as <ref> in <s> s' lines of Calvin's log: resource -> seconds."""
    found = {}
    for line in log.read_text(errors="replace").splitlines():
        parts = line.split("|", 1)
        if len(parts) == 2 and parts[1].strip().startswith("built ") and line.rstrip().endswith(" s"):
            try:
                found[parts[0].strip()] = float(line.rstrip()[:-2].rsplit(" ", 1)[1])
            except ValueError:
                pass
    return found


def _change(project: Path, edited: list[str], bumped: list[str], stamp: str) -> None:
    from .generate import bump, edit

    edit(project, edited, stamp)
    bump(project, bumped)


def _remove_local(probe: EngineProbe, namespace: str) -> None:
    probe.remove_local(namespace)


def _delete_db(project: Path) -> None:
    for path in project.glob(DB_FILE + "*"):
        path.unlink()


def _fresh_clone(probe: EngineProbe, project: Path, namespace: str) -> None:
    probe.remove_local(namespace)
    _delete_db(project)
    shutil.rmtree(project / "out", ignore_errors=True)


def matrix(sizes: list[int]) -> list[tuple[str, int]]:
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


# -- the report ---------------------------------------------------------------------------------------
def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it was met (None: not run)."""
    def find(scenario: str, n: int | None = None) -> list[dict[str, Any]]:
        return [r for r in rows if r["scenario"] == scenario and (n is None or r["n"] == n)]

    out: list[dict[str, Any]] = []
    for n, limit in TARGET_NOOP.items():
        found = find("no-op", n)
        if not found:
            out.append({"target": f"no-op of {n} resources ≤ {limit} s", "met": None, "measured": "not run"})
            continue
        worst = max(found, key=lambda r: r["calvin"]["median_s"])
        out.append({"target": f"no-op of {n} resources ≤ {limit} s",
                    "met": worst["calvin"]["median_s"] <= limit,
                    "measured": "; ".join(f"{r['shape']} {r['calvin']['median_s']:.3f} s" for r in found)})
    found = [r for r in find("no-op", 500) if r["baseline"]]
    if found:
        speedups = [(r["shape"], r["baseline"]["median_s"] / r["calvin"]["median_s"]) for r in found]
        out.append({"target": f"no-op of 500 ≥ {TARGET_SPEEDUP_500:g}× faster than the baseline",
                    "met": min(s for _, s in speedups) >= TARGET_SPEEDUP_500,
                    "measured": "; ".join(f"{shape} {s:.1f}× ({r['baseline']['median_s']:.1f} s / "
                                          f"{r['calvin']['median_s']:.3f} s)" for (shape, s), r in zip(speedups, found))})
    else:
        out.append({"target": f"no-op of 500 ≥ {TARGET_SPEEDUP_500:g}× faster than the baseline", "met": None,
                    "measured": "not run"})
    changed = find("leaf changed") + find("root changed")
    wrong = [r for r in changed if not r["calvin"]["exact"]]
    runs = sum(len(r["calvin"]["builds"]) for r in changed)
    out.append({"target": "on change, builds exactly the changed resource and its descendants",
                "met": not wrong if changed else None,
                "measured": (f"{runs} runs in {len(changed)} configurations: " + (
                    "every run built exactly the changed resource and its descendants, as counted by the engine "
                    "(leaf: 1 build; root: all N)" if not wrong else "wrong set in " + "; ".join(
                        f"{r['scenario']} {r['shape']}×{r['n']}: built {r['calvin']['builds']}, expected "
                        f"{r['expected_builds']}, unexpected {r['calvin']['unexpected']}, missing "
                        f"{r['calvin']['missing']}" for r in wrong)))})
    deleted = find("db deleted")
    out.append({"target": "zero builds with the database deleted",
                "met": all(not any(r["calvin"]["builds"]) for r in deleted) if deleted else None,
                "measured": f"{sum(len(r['calvin']['builds']) for r in deleted)} runs in {len(deleted)} "
                            f"configurations, builds per run: " + ", ".join(
                                sorted({str(b) for r in deleted for b in r["calvin"]["builds"]}))})
    serial, parallel = find("parallel serial"), find("parallel -n 4 -P thread")
    if serial and parallel:
        speedup = serial[0]["calvin"]["median_s"] / parallel[0]["calvin"]["median_s"]
        out.append({"target": f"-n 4 ≥ {TARGET_PARALLEL:g}× faster than serial (I/O-bound wide graph)",
                    "met": speedup >= TARGET_PARALLEL,
                    "measured": f"{speedup:.2f}× ({serial[0]['calvin']['median_s']:.1f} s / "
                                f"{parallel[0]['calvin']['median_s']:.1f} s)"})
    else:
        out.append({"target": f"-n 4 ≥ {TARGET_PARALLEL:g}× faster than serial", "met": None, "measured": "not run"})
    return out


def _noop_median(doc: dict[str, Any], shape: str, n: int) -> float | None:
    row = next((r for r in doc["rows"] if r["scenario"] == "no-op" and r["shape"] == shape and r["n"] == n), None)
    return row["calvin"]["median_s"] if row and row["calvin"] else None


def _shown_profiles(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per profiled size, the profile of the shape whose no-op was slowest."""
    best: dict[int, dict[str, Any]] = {}
    for p in doc["profiles"]:
        current = best.get(p["n"])
        if current is None or (_noop_median(doc, p["shape"], p["n"]) or 0) > (
                _noop_median(doc, current["shape"], current["n"]) or 0):
            best[p["n"]] = p
    return [best[n] for n in sorted(best)]


def findings(doc: dict[str, Any]) -> list[str]:
    """Statements the numbers support, computed (so they stay true when the run is repeated)."""
    out = []
    floors = doc.get("floors_s") or {}
    if floors:
        out.append("Fixed cost of every `doit` process before any work: " + "; ".join(
            f"{k} {v:.3f} s" for k, v in floors.items()) + ".")
    for p in _shown_profiles(doc):
        noop = next((r for r in doc["rows"] if r["scenario"] == "no-op" and r["shape"] == p["shape"]
                     and r["n"] == p["n"]), None)
        if noop is None:
            continue
        b = p.get("buckets", {})
        top = sorted(b.items(), key=lambda kv: -kv[1])
        out.append(f"No-op {p['shape']} × {p['n']} ({noop['calvin']['median_s']:.3f} s wall, "
                   f"{p['profiled_total_s']:.3f} s under cProfile): " +
                   "; ".join(f"{k} {v:.3f} s ({v / p['profiled_total_s']:.0%})" for k, v in top) + ".")
    cold = [r for r in doc["rows"] if r["scenario"] == "cold" and r.get("calvin_build_steps_s") and r["baseline"]]
    if cold:
        share = [r["calvin_build_steps_s"] / r["calvin"]["median_s"] for r in cold]
        out.append("Cold builds: Calvin takes " + ", ".join(
            f"{r['ratio_calvin_over_baseline']:.2f}×" for r in cold) + " the baseline's time "
            f"({', '.join(r['shape'] + '×' + str(r['n']) for r in cold)}). Its build steps (\"built … in s\" lines of "
            f"its log, for analysis only) are {min(share):.0%}–{max(share):.0%} of its wall time; the rest is the "
            "smoke-test, release (3 tags) and manifest steps, doit, and loading the project. Per resource: "
            + ", ".join(f"{r['shape']}×{r['n']} {r['calvin']['median_s'] / r['n']:.2f} s vs "
                        f"{r['baseline']['median_s'] / r['n']:.2f} s" for r in cold) + ".")
    builds = doc.get("parallel_build_seconds") or {}
    serial, parallel = builds.get("serial"), builds.get("-n 4 -P thread")
    rows = {r["scenario"]: r for r in doc["rows"]}
    if serial and parallel and "parallel serial" in rows and "parallel -n 4 -P thread" in rows:
        import math

        root = min(serial, key=lambda k: k)  # r0000
        s_children = [v for k, v in serial.items() if k != root]
        p_children = [v for k, v in parallel.items() if k != root]
        if s_children and p_children:
            mean_s, mean_p = statistics.mean(s_children), statistics.mean(p_children)
            k = len(p_children)
            ideal = parallel.get(root, 0) + math.ceil(k / 4) * mean_p
            c_serial = rows["parallel serial"]["calvin"]["median_s"]
            c_par = rows["parallel -n 4 -P thread"]["calvin"]["median_s"]
            b_serial = rows["parallel serial"]["baseline"]["median_s"] if rows["parallel serial"]["baseline"] else None
            b_par = (rows["parallel -n 4 -P thread"]["baseline"]["median_s"]
                     if rows["parallel -n 4 -P thread"]["baseline"] else None)
            text = (f"Parallel: a child's build (`RUN sleep 2`) takes {mean_s:.2f} s alone but {mean_p:.2f} s with 4 "
                    f"at once on {doc['machine']['nproc']} CPUs (the engine's container set-up and commits compete "
                    f"for the CPUs). With those build times the best any -n 4 schedule can do is root + "
                    f"⌈{k}/4⌉ × {mean_p:.2f} s ≈ {ideal:.1f} s, i.e. {c_serial / ideal:.2f}× — Calvin took "
                    f"{c_par:.1f} s ({c_serial / c_par:.2f}×).")
            if b_serial and b_par:
                text += f" The baseline's level-parallel xargs -P 4 got {b_serial / b_par:.2f}×."
            out.append(text)
    return out


def _cell(side: dict[str, Any] | None) -> tuple[str, str, str]:
    if side is None:
        return "—", "—", "—"
    runs = len(side["runs_s"])
    failed = sum(1 for e in side["exit"] if e)
    spread = f", {min(side['runs_s']):.3f}–{max(side['runs_s']):.3f}" if runs > 1 else ""
    wall = (f"{side['median_s']:.3f}" + (f" ({runs} runs{spread})" if runs > 1 else "")
            + (f" **{failed} failed**" if failed else ""))
    builds = sorted(set(side["builds"]))
    text = "/".join(str(b) for b in builds)
    if not side["exact"]:
        text += " ✗"
    return wall, text, str(runs)


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        "# Calvin benchmarks",
        "",
        "Calvin (`doit`, the default tasks: build → smoke-test → release → manifest) against the baseline a user "
        "without Calvin writes (`bench/baseline.sh`: `docker build` of every resource in topological order, the "
        "parent passed as `--build-arg BASE_IMAGE=<parent tag>`, the engine's layer cache doing the skipping), on "
        "the same synthetic trees (`bench/generate.py`), the same engine, in one process. "
        "Generated by `bench/run.py`; the numbers below are from the run described here.",
        "",
        f"- command: `{doc['command']}` — {doc['duration_s'] / 60:.1f} min, {doc['started']}",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"Python {doc['python']}",
        f"- engine: Docker {m['engine']} ({doc['engine_mode']}), {m['builder']}; docker CLI {m['docker_cli']}",
        f"- Calvin: {doc['calvin_revision']}; doit {doc['doit_version']}",
        "- wall time: the whole `doit` (or `baseline.sh`) process, from spawn to exit; median of the runs shown "
        "(cold, root changed and the parallel runs: one run each). Repeated runs stop once they took "
        f"{doc['budget_s']:g} s.",
        "- builds: counted from the engine, not from Calvin's output — an image id new to the namespace whose "
        "`Created` time lies inside the run (a cache hit returns an existing id, a pull keeps its old time). "
        "`✗` marks a run that built a different set of resources than expected.",
        "- ratio: Calvin's median / the baseline's median (below 1: Calvin is faster).",
        f"- machine load (1-min load average, other users of this machine included): {doc['load_average_1min']['at_start']} "
        f"at the start, {min(doc['load_average_1min']['per_configuration'] or [0])}–"
        f"{max(doc['load_average_1min']['per_configuration'] or [0])} at the start of each configuration, "
        f"{doc['load_average_1min']['at_end']} at the end.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for t in doc["targets"]:
        met = "not run" if t["met"] is None else ("**met**" if t["met"] else "**missed**")
        lines.append(f"| {t['target']} | {t['measured']} | {met} |")
    order = ["cold", "no-op", "leaf changed", "root changed", "db deleted", "registry publish", "images removed",
             "fresh clone", "parallel serial", "parallel -n 4 -P thread"]
    titles = {
        "cold": "Cold build (nothing in the engine)",
        "no-op": "No-op (nothing changed, doit database present)",
        "leaf changed": "One leaf changed (its note edited, its version bumped)",
        "root changed": "The root changed (its note edited; root and every descendant bumped)",
        "db deleted": "doit's database deleted (`.doit.sqlite3` removed before each run)",
        "registry publish": "Registry configured: first run publishes (Calvin only)",
        "images removed": "Every local image removed, registry configured (Calvin only)",
        "fresh clone": "Fresh clone: local images, doit database and out/ removed, registry configured (Calvin only)",
        "parallel serial": "I/O-bound wide graph (`RUN sleep 2` in every child): serial",
        "parallel -n 4 -P thread": "I/O-bound wide graph: `doit -n 4 -P thread` (baseline: 4 builds at a time per level)",
    }
    for scenario in order:
        rows = [r for r in doc["rows"] if r["scenario"] == scenario]
        if not rows:
            continue
        lines += ["", f"## {titles[scenario]}", ""]
        notes = sorted({r["note"] for r in rows if r["note"]})
        for note in notes:
            lines.append(f"_{note}_")
            lines.append("")
        lines.append("| shape | N | Calvin s | baseline s | Calvin/baseline | builds Calvin | builds baseline | expected |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            cw, cb, _ = _cell(r["calvin"])
            bw, bb, _ = _cell(r["baseline"])
            if r.get("baseline_ref"):
                bw += f" ({r['baseline_ref']})"
            ratio = f"{r['ratio_calvin_over_baseline']:.3f}" if r["ratio_calvin_over_baseline"] is not None else "—"
            lines.append(f"| {r['shape']} | {r['n']} | {cw} | {bw} | {ratio} | {cb} | {bb} | {r['expected_builds']} |")
    for p in _shown_profiles(doc):
        noop = _noop_median(doc, p["shape"], p["n"])
        limit = TARGET_NOOP.get(p["n"])
        verdict = "" if noop is None or limit is None else (
            f" — {noop:.3f} s, target ≤ {limit:g} s {'met' if noop <= limit else 'missed'}")
        lines += ["", f"## Profile: no-op of {p['shape']} × {p['n']}{verdict}", "",
                  f"`python -m cProfile -o prof.out -m doit` in the up-to-date project: {p['wall_under_profiler_s']} s "
                  f"under the profiler, {p['profiled_total_s']} s profiled; imports (`_find_and_load`, nested) "
                  f"{p['imports_cumtime_s']} s.", "",
                  "Where the time goes (cumulative time of the outermost call; the rows overlap: imports happen "
                  "inside doit's task loading, Calvin's steps inside doit's loading and running):", "",
                  "| part | s | share |", "|---|---:|---:|"]
        for label, value in sorted((p.get("buckets") or {}).items(), key=lambda kv: -kv[1]):
            lines.append(f"| {label} | {value:.3f} | {value / p['profiled_total_s']:.0%} |")
        lines += ["", "Top 15 by cumulative time:", "",
                  "| # | function | ncalls | tottime s | cumtime s |", "|---:|---|---:|---:|---:|"]
        for i, e in enumerate(p["top_cumulative"], 1):
            lines.append(f"| {i} | `{e['function']}` | {e['ncalls']} | {e['tottime']:.3f} | {e['cumtime']:.3f} |")
        lines += ["", "Calvin's own functions by cumulative time:", "",
                  "| function | ncalls | tottime s | cumtime s |", "|---|---:|---:|---:|"]
        for e in p["top_calvin"][:10]:
            lines.append(f"| `{e['function']}` | {e['ncalls']} | {e['tottime']:.3f} | {e['cumtime']:.3f} |")
    if doc.get("findings"):
        lines += ["", "## Findings", ""] + [f"- {f}" for f in doc["findings"]]
    lines += ["", "## Method and caveats", ""] + [f"- {c}" for c in doc["caveats"]]
    return "\n".join(lines) + "\n"


CAVEATS = [
    "Every resource is tiny: a root is `FROM scratch` + the host's static `/bin/busybox` + a note + "
    "`RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]`; every other resource `ARG BASE_IMAGE` / "
    "`FROM ${BASE_IMAGE}` + one `COPY` + one `RUN`. The numbers measure orchestration, not compilation.",
    "Shapes: chain (each resource on the previous), wide (every resource on one root), tree (3-ary, breadth "
    "first). Chains stop at 50 resources: the engine refuses an image more than 125 layers deep "
    "(\"max depth exceeded\"). Measured here: these children add one layer each (the RUN changes no file, so the "
    "classic builder records no layer) and the 123rd resource of a chain fails; resources whose RUN writes files "
    "add two layers each, which puts the limit near 62.",
    "Calvin and the baseline each get their own copy of a tree, identical but for a salt in every note, so "
    "neither warms the other's layer cache (only the busybox COPY onto scratch can be shared).",
    "Calvin does more than the baseline in every run: it smoke-tests (these resources declare no checks, so "
    "the test step only clears leftovers and writes reports), releases (3 tags per resource) and writes a "
    "manifest. The baseline only builds.",
    "Changing a resource bumps its version in resource.yaml: Calvin refuses a new fingerprint under a released "
    "version (\"version not bumped\"). A root change therefore means bumping the root and every descendant — "
    "N file edits for the user — before Calvin releases cleanly.",
    "The registry scenarios are Calvin's alone: the baseline has no artefact store; on a machine without its "
    "images it rebuilds everything (its cold build). The registry is a Docker Distribution "
    "(`docker-registry serve`) of the benchmark's own on a free loopback port.",
    "doit database deleted: the baseline has no database, so its column repeats its no-op.",
    "The parallel scenario: one root and 12 children whose RUN sleeps 2 s. The baseline's parallel variant "
    "runs `xargs -P 4` per depth level (a Makefile with `-j4` would do the same).",
]


def render() -> int:
    """Rewrite BENCHMARKS.md from bench/results.json (targets and findings recomputed), without running."""
    doc = json.loads(RESULTS.read_text())
    doc["targets"] = targets(doc["rows"])
    doc["findings"] = findings(doc)
    doc["caveats"] = CAVEATS
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    REPORT.write_text(markdown(doc))
    print(f"rendered {REPORT.relative_to(REPO)} from {RESULTS.relative_to(REPO)}")
    return 0


def main() -> int:
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
    registry = PrivateRegistry(work) if PrivateRegistry.possible() else None
    bench: Bench | None = None
    probe: EngineProbe | None = None
    try:
        if engine is not None:
            engine.start()
            docker_host = engine.base_url
        else:
            docker_host = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
        print(f"engine: {mode} ({docker_host}); work: {work}", flush=True)
        if registry is not None:
            registry.start()
            print(f"registry: {registry.address}", flush=True)
        probe = EngineProbe(docker_host)
        bench = Bench(work, probe, docker_host, registry)
        machine = describe_machine(probe)
        floors = bench.floors()
        pairs = matrix(sizes)
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
                "parallel_children": _env_int("BENCH_PARALLEL", 12),
                "caveats": CAVEATS,
            })
            doc["findings"] = findings(doc)
            RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
            REPORT.write_text(markdown(doc))

        for shape, n in pairs:
            bench.config(shape, n)
            save()
        children = _env_int("BENCH_PARALLEL", 12)
        if children:
            bench.parallel(children)
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
    import hashlib

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
        from importlib.metadata import version

        return version("doit")
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
