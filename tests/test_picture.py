"""`doit graph`: each resource's state from the run's decisions, the DOT text, and the SVG from
Graphviz (run for real when it is installed)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from calvin_tasks.errors import EngineUnavailable, StepFailed
from calvin_tasks.picture import STATES, state_of, states, to_dot, to_svg
from calvin_tasks.plan import NOT_BUMPED, Decision, Plan
from calvin_tasks.project import load_project
from fakes import Daemon, FakeEngine
from helpers import make_project
from inprocess import doit_here

TREE = {"root": None, "web": "root", "db": "root", "cache": "db", "tools": None}


def project_files() -> dict[str, str | bytes | Path]:
    files: dict[str, str | bytes | Path] = {}
    for name, base in TREE.items():
        group = "base" if base is None else "supporting"
        files[f"resources/{name}/resource.yaml"] = (f"description: {name}\ngroup: {group}\nversion: 1.2.0\n"
                                                    + (f"base: {base}\n" if base else ""))
        files[f"resources/{name}/Dockerfile"] = ("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n" if base else "FROM scratch\n")
    return files


def plan_of(needs: dict[str, tuple[bool, bool, bool, str]]) -> Plan:
    decisions = []
    for name, (build, test, release, blocked) in needs.items():
        decisions += [Decision(name, "build", build, f"{name} build reason"),
                      Decision(name, "test", test, f"{name} test reason"),
                      Decision(name, "release", release, f"{name} release reason", blocked=blocked)]
    return Plan(decisions)


PLAN = plan_of({"root": (False, False, False, ""), "web": (True, True, True, ""), "db": (False, True, True, ""),
                "cache": (False, False, True, ""), "tools": (True, True, True, NOT_BUMPED)})


def test_a_resource_takes_the_state_of_its_earliest_step_to_run() -> None:
    assert state_of(PLAN, "root") == ("up to date", "root release reason")
    assert state_of(PLAN, "web") == ("to build", "web build reason")
    assert state_of(PLAN, "db") == ("to test", "db test reason")
    assert state_of(PLAN, "cache") == ("to release", "cache release reason")
    assert state_of(PLAN, "tools") == ("blocked", "tools release reason")
    assert state_of(None, "root") == ("unknown", "")


def test_broken_resources_block_what_builds_on_them(tmp_path: Path) -> None:
    project = load_project(make_project(tmp_path / "p", project_files()))
    found = states(project, PLAN, {"db": "resources/db/resource.yaml:3: bad version", "gone": "no resource.yaml"})
    assert found["db"] == ("broken", "resources/db/resource.yaml:3: bad version")
    assert found["cache"] == ("blocked", "builds on db, which is broken")
    assert found["gone"] == ("broken", "no resource.yaml")
    assert found["web"] == ("to build", "web build reason")


def test_the_dot_text_labels_colours_and_connects_every_resource(tmp_path: Path) -> None:
    project = load_project(make_project(tmp_path / "p", project_files()))
    text = to_dot(project, states(project, PLAN), title='calvin: "2 to build"')
    assert text.startswith("digraph calvin {\n") and text.endswith("}\n")
    assert 'label="calvin: \\"2 to build\\""' in text
    assert f'"web" [label="web\\n1.2.0 · supporting\\nto build", fillcolor="{STATES["to build"][0]}"' in text
    assert f'"tools" [label="tools\\n1.2.0 · base\\nblocked", fillcolor="{STATES["blocked"][0]}"' in text
    edges = sorted(line.strip() for line in text.splitlines() if "->" in line and "legend" not in line)
    assert edges == ['"db" -> "cache";', '"root" -> "db";', '"root" -> "web";']
    legend = [line for line in text.splitlines() if '"legend: ' in line and "->" not in line]
    assert len(legend) == 5  # the five states shown, not the ones absent
    assert '"legend: broken"' not in text and '"legend: unknown"' not in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (`make tools`)")
def test_graphviz_draws_the_svg(tmp_path: Path) -> None:
    project = load_project(make_project(tmp_path / "p", project_files()))
    svg = to_svg(to_dot(project, states(project, PLAN)))
    assert svg is not None and "<svg" in svg
    for name in TREE:
        assert f"<title>{name}</title>" in svg
    assert "<title>db&#45;&gt;cache</title>" in svg
    with pytest.raises(StepFailed, match="Graphviz's dot failed"):
        to_svg("digraph {")


def test_without_graphviz_only_the_dot_file_is_written() -> None:
    assert to_svg("digraph {}", command="calvin-no-such-dot") is None


def test_doit_graph_writes_both_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    root, daemon = make_project(tmp_path / "p", project_files()), Daemon()
    code, out = doit_here(root, daemon, monkeypatch, capsys, "graph")
    assert code == 0, out
    dot_text = (root / "out" / "graph.dot").read_text()
    assert "5 to build, 5 to test, 5 to release" in dot_text and dot_text.count("\\nto build\"") == 5
    if shutil.which("dot"):
        assert "graph: out/graph.svg (and out/graph.dot) — 5 to build\n" in out
        assert (root / "out" / "graph.svg").read_text().lstrip().startswith("<?xml")


def test_without_the_engine_the_graph_is_drawn_with_unknown_states(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class Unreachable(FakeEngine):
        def prefetch(self, references: list[str], workers: int = 4) -> None:
            raise EngineUnavailable("the Docker engine at unix:///nowhere cannot be reached")

    root = make_project(tmp_path / "p", project_files())
    code, out = doit_here(root, Daemon(), monkeypatch, capsys, "graph", engine=Unreachable)
    assert code == 0, out
    assert "states unknown: the Docker engine at unix:///nowhere cannot be reached" in out
    assert (root / "out" / "graph.dot").read_text().count("\\nunknown\"") == 5
