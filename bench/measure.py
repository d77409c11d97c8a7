"""Measuring: one `doit` or baseline process timed, and what the engine built meanwhile.

The wall time is the whole process, spawn to exit, as a user waits for it; the builds are
counted from the engine (bench/engine.py), never from the tool's own output. `Bench` holds
what a benchmark run has measured so far; the scenarios (bench/scenarios.py) drive it.
"""
from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .engine import EngineProbe
from .generate import Node, generate
from .registry import RegistryProcess

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "bench" / "baseline.sh"
DOIT = str(Path(sys.executable).parent / "doit")


def env_int(name: str, default: int) -> int:
    """A BENCH_* setting: unset or empty means the default."""
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
    """One scenario of one configuration: Calvin's runs and the baseline's, against the builds expected."""

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
        """The row as bench/results.json keeps it."""
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
            durations = build_durations(Path(self.calvin[0].log))
            log_builds = round(sum(durations.values()), 2) if durations else None
        return {"scenario": self.scenario, "shape": self.shape, "n": self.n, "note": self.note,
                "calvin_build_steps_s": log_builds,
                "expected_builds": len(self.expected), "calvin": side(self.calvin), "baseline": side(self.baseline),
                "baseline_ref": self.baseline_ref or None,
                "ratio_calvin_over_baseline": round(c / b, 4) if c is not None and b else None}


class Bench:
    """Runs Calvin and the baseline against one engine and keeps what was measured."""

    def __init__(self, work: Path, probe: EngineProbe, docker_host: str, registry: RegistryProcess | None) -> None:
        self.work = work
        self.probe = probe
        self.docker_host = docker_host
        self.registry = registry
        self.rows: list[Row] = []
        self.profiles: list[dict[str, Any]] = []
        self.namespaces: list[str] = []
        self.prefix = f"calvin-bench-{secrets.token_hex(3)}"
        self.repeat = env_int("BENCH_REPEAT", 5)
        self.budget = float(os.environ.get("BENCH_BUDGET") or 20)
        self.counter = 0
        self.load: list[float] = []
        self.parallel_builds: dict[str, dict[str, float]] = {}

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of every measured process: no CALVIN_* of the caller's, the snapshot first."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CALVIN_") and k != "PYTHONDONTWRITEBYTECODE"}
        env["DOCKER_HOST"] = self.docker_host
        # Bytecode cached as on any machine (this sandbox sets PYTHONDONTWRITEBYTECODE=1, which would
        # recompile Calvin on every run), kept in the work folder rather than in the repository.
        env["PYTHONPYCACHEPREFIX"] = str(self.work / "pycache")
        # Calvin as it was when the benchmark started (see run.snapshot()), ahead of the editable install.
        env["PYTHONPATH"] = os.pathsep.join(x for x in (str(self.work / "snapshot"), env.get("PYTHONPATH")) if x)
        env.update(extra or {})
        return env

    def measure(self, command: list[str], cwd: Path, namespace: str, env: dict[str, str]) -> Run:
        """Run `command` to its end, its output in a log of its own, and observe the engine around it."""
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
        return self.measure([DOIT, *args], project, namespace, self.env(extra))

    def baseline(self, project: Path, namespace: str, jobs: int = 1) -> Run:
        return self.measure(["bash", str(BASELINE), str(project), namespace, str(jobs)], project, namespace,
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
        """Keep `row` and print it as one line of progress."""
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
        """A new synthetic project under a namespace of its own (removed at the end of the benchmark)."""
        namespace = f"{self.prefix}-{shape}-{n}-{tool}" + (f"-s{sleep:g}" if sleep else "")
        root = self.work / namespace
        nodes = generate(root, n, shape, namespace=namespace, salt=secrets.token_hex(8), sleep=sleep)
        self.namespaces.append(namespace)
        return root, namespace, nodes


def build_durations(log: Path) -> dict[str, float]:
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
