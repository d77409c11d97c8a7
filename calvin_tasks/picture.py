"""The resource graph as a picture: DOT text, each resource coloured by what the run would do to
it, and SVG from Graphviz's `dot` — the picture a person looks at before a big change.
"""
from __future__ import annotations

import subprocess
from typing import Mapping

from .errors import StepFailed
from .graph import ancestors
from .model import Project
from .plan import Plan

# state → (fill colour, what it means); in the order a legend lists them
STATES: dict[str, tuple[str, str]] = {
    "up to date": ("#c8e6c9", "released, tested, nothing to do"),
    "to build": ("#ffcc80", "its inputs changed: a new image"),
    "to test": ("#fff59d", "its smoke tests changed, or never passed on this image"),
    "to release": ("#bbdefb", "built and tested, not released yet"),
    "blocked": ("#ef9a9a", "version not bumped, or built on a broken resource"),
    "broken": ("#e57373", "its input is wrong: see `doit list`"),
    "unknown": ("#e0e0e0", "the engine or the release store could not be asked"),
}


def state_of(plan: Plan | None, name: str) -> tuple[str, str]:
    """(state, reason) of one resource from the run's decisions; the earliest needed step wins."""
    if plan is None:
        return "unknown", ""
    steps = [plan[f"{stage}:{name}"] for stage in ("build", "test", "release")]
    blocked = next((d for d in steps if d.blocked), None)
    if blocked is not None:
        return "blocked", blocked.reason
    needed = next((d for d in steps if d.needed), None)
    if needed is not None:
        return f"to {needed.stage}", needed.reason
    return "up to date", steps[-1].reason


def states(project: Project, plan: Plan | None, broken: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Every resource's (state, reason). `broken` (name → its first error) marks resources whose
    input is wrong; what builds on them is blocked."""
    broken = broken or {}
    found: dict[str, tuple[str, str]] = {}
    for name in project.order:
        if name in broken:
            found[name] = ("broken", broken[name])
            continue
        below = next((a for a in ancestors(project.resources, name) if a in broken), None)
        found[name] = ("blocked", f"builds on {below}, which is broken") if below else state_of(plan, name)
    for name, error in broken.items():  # a broken resource may not be in the project at all
        found.setdefault(name, ("broken", error))
    return found


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(project: Project, found: Mapping[str, tuple[str, str]], *, title: str = "") -> str:
    """The graph in Graphviz's language: parents above children, a legend of the states shown."""
    lines = ["digraph calvin {",
             "  graph [rankdir=TB, fontname=Helvetica, fontsize=11, labelloc=t"
             + (f", label={_quote(title)}" if title else "") + "];",
             "  node [shape=box, style=\"rounded,filled\", fontname=Helvetica, fontsize=11];",
             "  edge [color=\"#607d8b\"];"]
    for name in [*project.order, *sorted(set(found) - set(project.order))]:
        state, reason = found.get(name, ("unknown", ""))
        resource = project.resources.get(name)
        label = f"{name}\n{resource.version} · {resource.group}" if resource else name
        lines.append(f"  {_quote(name)} [label={_quote(label + chr(10) + state)}, "
                     f"fillcolor={_quote(STATES[state][0])}, tooltip={_quote(f'{state}: {reason}' if reason else state)}];")
    for name in project.order:
        base = project.resources[name].base
        if base:
            lines.append(f"  {_quote(base)} -> {_quote(name)};")
    shown = [s for s in STATES if any(state == s for state, _ in found.values())]
    if shown:
        lines.append("  subgraph cluster_legend {")
        lines.append("    label=\"states\"; fontsize=10; color=\"#b0bec5\";")
        for state in shown:
            colour, meaning = STATES[state]
            lines.append(f"    {_quote('legend: ' + state)} [label={_quote(f'{state}: {meaning}')}, "
                         f"fillcolor={_quote(colour)}, fontsize=9];")
        lines += [f"    {_quote('legend: ' + a)} -> {_quote('legend: ' + b)} [style=invis];"
                  for a, b in zip(shown, shown[1:])]
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot_text: str, command: str = "dot") -> str | None:
    """SVG rendered by Graphviz; None when `dot` is not installed."""
    try:
        done = subprocess.run([command, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        raise StepFailed("Graphviz's dot took more than 120 s to draw the graph") from None
    if done.returncode != 0:
        raise StepFailed(f"Graphviz's dot failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout
