"""The resources' DAG: build order, descendants, and cycles printed in order."""
from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import Mapping

from .errors import InputError, Problem
from .model import Resource


def build_order(resources: Mapping[str, Resource]) -> tuple[str, ...]:
    """Parents before children; ties broken by name so the order is the same everywhere."""
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name in sorted(resources):
        base = resources[name].base
        sorter.add(name, *([base] if base else []))
    try:
        sorter.prepare()
    except CycleError as err:
        raise InputError([_cycle_problem(list(err.args[1]), resources)]) from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return tuple(order)


def _cycle_problem(cycle: list[str], resources: Mapping[str, Resource]) -> Problem:
    # graphlib lists each node before the node that depends on it; we print child → base.
    nodes = list(reversed(cycle[:-1]))
    start = nodes.index(min(nodes))
    nodes = nodes[start:] + nodes[:start]
    first = resources[nodes[0]]
    path = " → ".join(nodes + [nodes[0]])
    return Problem(first.display, f"cycle in base: {path}", line=first.line_of("base"), resource=first.name,
                   key_path="base",
                   hint="each resource names the next as its base; break the cycle by removing one base")


def descendants(resources: Mapping[str, Resource], name: str) -> set[str]:
    """Every resource built, directly or not, on `name`."""
    children: dict[str, list[str]] = {}
    for resource in resources.values():
        if resource.base:
            children.setdefault(resource.base, []).append(resource.name)
    found: set[str] = set()
    stack = [name]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def ancestors(resources: Mapping[str, Resource], name: str) -> list[str]:
    """The chain of bases from the parent up to the root."""
    chain: list[str] = []
    base = resources[name].base
    while base and base not in chain:
        chain.append(base)
        base = resources[base].base
    return chain
