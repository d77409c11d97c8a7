"""Environment tasks: pin and promote what runs, bring it up, compare it, stop it; secrets; history.

    doit pin <env>              take the current releases (version and digest) into configs/pins/<env>.yaml
    doit promote <from> <to>    take exactly what <from> runs, by digest
    doit up:<env>               converge the environment to its pins and values; wait until healthy
    doit status:<env>           what runs against the pins: version, digest, health, drift
    doit down:<env>             stop it (volumes kept unless --volumes)
    doit secrets <env>          create missing secrets with random values; list which exist
    doit history [<resource>…]  releases: version, date, fingerprint, digest, tests, environments

The deploy modules load when one of these commands runs, not on every `doit`.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

from ..environments import Environment
from ..errors import StepFailed, display_path
from .reporter import prefixed, say
from .run import Run, current
from .steps import command




def environment(run: Run, name: str) -> Environment:
    for found in run.project.environments:
        if isinstance(found, Environment) and found.name == name:
            return found
    known = ", ".join(e.name for e in run.project.environments) or "none"
    raise StepFailed(f"no environment '{name}' (configs/environments/{name}.yaml); environments: {known}")


def _one(names: list[str], usage: str) -> str:
    if len(names or []) != 1:
        raise StepFailed(f"usage: {usage}")
    return names[0]


def _pin(run: Run, names: list[str]) -> None:
    from ..deploy import pins
    target = environment(run, _one(names, "doit pin <environment>"))
    found = pins.current(run.project, run.store, target)
    file = pins.write(run.project.settings.root, target.name, found, run.project.settings.registry)
    for pin in sorted(found.values(), key=lambda p: p.resource):
        say(f"{pin.resource:<22} {pin.version:<10} {pin.digest}")
    say(f"pinned {len(found)} resources of '{target.name}' in {display_path(file)}; `doit up:{target.name}` runs them")


def _promote(run: Run, names: list[str]) -> None:
    from ..deploy import pins
    if len(names or []) != 2:
        raise StepFailed("usage: doit promote <from> <to>")
    source, target = environment(run, names[0]), environment(run, names[1])
    taken = pins.read(run.project.settings.root, source.name)
    missing = sorted(set(target.services) - set(taken))
    if missing:
        raise StepFailed(f"'{target.name}' runs {', '.join(missing)}, which '{source.name}' does not pin: "
                         "nothing to promote for them")
    chosen = {name: pin for name, pin in taken.items() if name in target.services}
    problems = pins.verify(run.project, run.store, chosen, source.name)
    if problems:
        raise StepFailed(f"refused to promote '{source.name}' to '{target.name}':\n" + "\n".join(problems))
    file = pins.write(run.project.settings.root, target.name, chosen, run.project.settings.registry,
                      {"promoted_from": source.name})
    say(f"promoted {len(chosen)} resources from '{source.name}' to '{target.name}' by digest: {display_path(file)}")


def _up(run: Run, name: str) -> None:
    from ..deploy import converge
    target = environment(run, name)
    run.engine.ping()
    started = time.monotonic()
    found = converge.up(run.project, run.engine, target, prefixed(f"up:{name}"))
    for item in found:
        say(f"{item.service:<22} {item.resource} {item.version} ({item.digest[:19]}) → {item.health}"
            + (f" on {item.node}" if item.node else ""))
    say(f"environment '{name}': {len(found)} instances healthy in {time.monotonic() - started:.1f} s")


def _status(run: Run, name: str) -> None:
    from ..deploy import converge, pins
    target = environment(run, name)
    pinned = pins.read(run.project.settings.root, name)
    found = converge.running(run.project, run.engine, target)
    for item in found:
        say(f"{item.service:<22} {item.resource} {item.version} ({item.digest[:19]}) {item.state}, {item.health}"
            + (f" on {item.node}" if item.node else ""))
    drift = converge.drift(pinned, target, found)
    for line in drift:
        say(f"drift: {line}")
    if drift:
        raise StepFailed(f"environment '{name}' differs from its pins: {len(drift)} difference(s); "
                         f"`doit up:{name}` converges it")
    say(f"environment '{name}': {len(found)} instances as pinned")


def _down(run: Run, name: str, volumes: bool) -> None:
    from ..deploy import converge
    converge.down(run.project, environment(run, name), volumes, prefixed(f"down:{name}"), run.engine)
    say(f"environment '{name}' stopped" + ("; its volumes removed" if volumes else "; its volumes kept"))


def _secrets(run: Run, names: list[str]) -> None:
    from ..deploy import secrets
    target = environment(run, _one(names, "doit secrets <environment>"))
    created, existing = secrets.ensure(target)
    for name in created:
        say(f"created   {name}")
    for name in existing:
        say(f"exists    {name}")
    say(f"secrets of '{target.name}' in {secrets.store(target.name)}: {len(created)} created, {len(existing)} "
        "already there (values are never printed)")


def _history(run: Run, names: list[str]) -> None:
    from ..deploy import history
    for line in history.table(history.history(run.project, run.store, list(names or []))):
        say(line)


def _environment_tasks(action: Any, doc: str, **extra: Any) -> Iterator[dict[str, Any]]:
    run = current()
    for found in run.project.environments:
        yield {"name": found.name, "actions": [(command(action), [run, found.name])], "verbosity": 2,
               "doc": doc.format(env=found.name), **extra}


def task_up() -> Iterator[dict[str, Any]]:
    """Bring an environment to its pins and values: replaced instances only where something changed."""
    yield {"basename": "up", "name": None, "doc": "run an environment (doit up:<env>)"}
    yield from _environment_tasks(_up, "converge {env} to its pins and values and wait until healthy")


def task_status() -> Iterator[dict[str, Any]]:
    """Compare what runs with the pins."""
    yield {"basename": "status", "name": None, "doc": "what an environment runs (doit status:<env>)"}
    yield from _environment_tasks(_status, "what {env} runs: version, digest, health, drift from its pins")


def task_down() -> Iterator[dict[str, Any]]:
    """Stop an environment; its volumes are kept unless --volumes."""
    yield {"basename": "down", "name": None, "doc": "stop an environment (doit down:<env>)"}
    yield from _environment_tasks(_down, "stop {env} (keeps volumes unless --volumes)", params=[
        {"name": "volumes", "long": "volumes", "type": bool, "default": False, "help": "also remove its volumes"}])


def _named(action: Any, doc: str) -> dict[str, Any]:
    return {"actions": [(command(action), [current()])], "pos_arg": "names", "verbosity": 2, "doc": doc}


def task_pin() -> dict[str, Any]:
    return _named(_pin, "doit pin <env>: take the current releases (version and digest) as what <env> runs")


def task_promote() -> dict[str, Any]:
    return _named(_promote, "doit promote <from> <to>: take exactly what <from> runs, by digest")


def task_secrets() -> dict[str, Any]:
    return _named(_secrets, "doit secrets <env>: create the missing secrets with random values; list them")


def task_history() -> dict[str, Any]:
    return _named(_history, "doit history [<resource>…]: releases, their tests and where they run")


__all__ = ["task_down", "task_history", "task_pin", "task_promote", "task_secrets", "task_status",
           "task_up"]
