"""What the numbers say: the targets Calvin promises, met or not, and findings computed from the rows.

Both are computed from bench/results.json alone, so `python -m bench.run --render` recomputes
them, and they stay true when the benchmark is run again.
"""
from __future__ import annotations

import math
import statistics
from typing import Any

TARGET_NOOP = {50: 0.3, 500: 1.0}  # resources -> seconds a no-op may take
TARGET_SPEEDUP_500 = 20.0  # the no-op of 500 against the baseline's
TARGET_PARALLEL = 3.0  # -n 4 against serial, on the I/O-bound wide graph


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


def noop_median(doc: dict[str, Any], shape: str, n: int) -> float | None:
    """Calvin's median no-op of shape × n: what a profile of that configuration is judged against."""
    row = next((r for r in doc["rows"] if r["scenario"] == "no-op" and r["shape"] == shape and r["n"] == n), None)
    return row["calvin"]["median_s"] if row and row["calvin"] else None


def shown_profiles(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per profiled size, the profile of the shape whose no-op was slowest."""
    best: dict[int, dict[str, Any]] = {}
    for p in doc["profiles"]:
        current = best.get(p["n"])
        if current is None or (noop_median(doc, p["shape"], p["n"]) or 0) > (
                noop_median(doc, current["shape"], current["n"]) or 0):
            best[p["n"]] = p
    return [best[n] for n in sorted(best)]


def findings(doc: dict[str, Any]) -> list[str]:
    """Statements the numbers support, computed (so they stay true when the run is repeated)."""
    out = []
    floors = doc.get("floors_s") or {}
    if floors:
        out.append("Fixed cost of every `doit` process before any work: " + "; ".join(
            f"{k} {v:.3f} s" for k, v in floors.items()) + ".")
    for p in shown_profiles(doc):
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
