"""The resources' DAG: build order, descendants, ancestors and cycles — no engine needed."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from calvin_tasks.errors import InputError
from calvin_tasks.graph import ancestors, build_order, descendants
from calvin_tasks.project import load_project
from helpers import child_resource, make_project


def scratch_root(name: str) -> dict[str, str]:
    """A root resource with nothing to hash but a Dockerfile (no busybox: loading stays instant)."""
    return {
        f"resources/{name}/resource.yaml": f"description: {name} root\ngroup: base\nversion: 1.0.0\n",
        f"resources/{name}/Dockerfile": "FROM scratch\nCOPY hello /hello\n",
        f"resources/{name}/hello": f"{name}\n",
    }


def project_of(root: Path, roots: list[str], children: list[tuple[str, str]]) -> Path:
    files: dict[str, str | Path] = {}
    for name in roots:
        files.update(scratch_root(name))
    for name, base in children:
        files.update(child_resource(name, base))
    return make_project(root, files)


# A forest, named so that name order and build order disagree:
#   zulu ── alpha ── kilo
#        └─ mike
#   bravo ── yankee ── echo
#   lima (alone)
FOREST_ROOTS = ["zulu", "bravo", "lima"]
FOREST_CHILDREN = [("alpha", "zulu"), ("mike", "zulu"), ("kilo", "alpha"), ("yankee", "bravo"),
                   ("echo", "yankee")]


@pytest.fixture
def forest(tmp_path: Path):
    return load_project(project_of(tmp_path / "forest", FOREST_ROOTS, FOREST_CHILDREN))


def test_order_puts_every_parent_before_its_children(forest) -> None:
    order = forest.order
    assert sorted(order) == sorted(FOREST_ROOTS + [name for name, _ in FOREST_CHILDREN])
    for name, base in FOREST_CHILDREN:
        assert order.index(base) < order.index(name), f"{base} must come before {name}: {order}"


def test_order_breaks_ties_by_name_level_by_level(forest) -> None:
    # Roots first (by name), then everything whose parent is done (by name), and so on.
    assert forest.order == ("bravo", "lima", "zulu", "alpha", "mike", "yankee", "echo", "kilo")


def test_order_does_not_depend_on_the_order_resources_are_given_in(forest) -> None:
    resources = forest.resources
    names = list(resources)
    for permutation in itertools.islice(itertools.permutations(names), 0, 40320, 997):
        shuffled = {name: resources[name] for name in permutation}
        assert build_order(shuffled) == forest.order
    assert build_order(dict(reversed(list(resources.items())))) == forest.order


def test_order_is_the_same_for_the_same_tree_elsewhere(tmp_path: Path, forest) -> None:
    again = load_project(project_of(tmp_path / "some" / "other" / "place", FOREST_ROOTS, FOREST_CHILDREN))
    assert again.order == forest.order


def test_descendants(forest) -> None:
    resources = forest.resources
    assert descendants(resources, "zulu") == {"alpha", "mike", "kilo"}
    assert descendants(resources, "alpha") == {"kilo"}
    assert descendants(resources, "bravo") == {"yankee", "echo"}
    assert descendants(resources, "yankee") == {"echo"}
    for leaf in ("kilo", "mike", "echo", "lima"):
        assert descendants(resources, leaf) == set()


def test_ancestors_run_from_the_parent_to_the_root(forest) -> None:
    resources = forest.resources
    assert ancestors(resources, "kilo") == ["alpha", "zulu"]
    assert ancestors(resources, "echo") == ["yankee", "bravo"]
    assert ancestors(resources, "mike") == ["zulu"]
    assert ancestors(resources, "zulu") == []
    assert ancestors(resources, "lima") == []


def test_descendants_and_ancestors_agree(forest) -> None:
    resources = forest.resources
    for name in resources:
        for other in resources:
            assert (other in descendants(resources, name)) == (name in ancestors(resources, other))


def load_error(root: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        load_project(root)
    return caught.value


def test_two_cycle_is_an_input_error_printed_in_order(tmp_path: Path) -> None:
    root = project_of(tmp_path / "p", ["solid"], [("left", "right"), ("right", "left"), ("fine", "solid")])
    error = load_error(root)
    message = str(error)
    assert "cycle" in message
    assert "left → right → left" in message
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert problem.resource == "left"
    assert problem.file.endswith("resources/left/resource.yaml")
    assert problem.line == 4  # the `base:` line of left's resource.yaml


def test_three_cycle_is_printed_child_to_base_in_order(tmp_path: Path) -> None:
    # a's base is b, b's base is c, c's base is a.
    root = project_of(tmp_path / "p", [], [("a", "b"), ("b", "c"), ("c", "a")])
    message = str(load_error(root))
    assert "a → b → c → a" in message


def test_three_cycle_order_follows_the_bases_not_the_names(tmp_path: Path) -> None:
    # a's base is c, c's base is b, b's base is a: name order would wrongly print a → b → c → a.
    root = project_of(tmp_path / "p", [], [("a", "c"), ("c", "b"), ("b", "a")])
    message = str(load_error(root))
    assert "a → c → b → a" in message
    assert "a → b → c" not in message


def test_cycle_message_is_the_same_every_time(tmp_path: Path) -> None:
    # A cycle with resources hanging off it and a root elsewhere: the message must not vary.
    children = [("m", "p"), ("p", "k"), ("k", "m"), ("leaf", "k"), ("other", "solid")]
    messages = {str(load_error(project_of(tmp_path / f"p{i}", ["solid"], children))).replace(f"p{i}", "P")
                for i in range(5)}
    assert len(messages) == 1
    assert "k → m → p → k" in messages.pop()


def test_cycle_below_a_root_is_still_found(tmp_path: Path) -> None:
    # The cycle never reaches a root: x ↔ y, with z built on x.
    root = project_of(tmp_path / "p", ["r"], [("x", "y"), ("y", "x"), ("z", "x"), ("s", "r")])
    message = str(load_error(root))
    assert "x → y → x" in message
    assert "Traceback" not in message
