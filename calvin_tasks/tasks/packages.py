"""Package tasks: keep bases current and say what changed.

    doit refresh [--apply]       pending Debian updates per resource lock; --apply rewrites the locks
                                 and bumps the affected resources (and their descendants)
    doit diff <r> [<v1> <v2>]    packages added, removed and changed between two released versions
    doit verify <r>              rebuild in a private namespace and compare (image id, file tree, packages)
"""
from __future__ import annotations

import time
from typing import Any

from ..errors import StepFailed, display_path
from .reporter import prefixed, say
from .run import Run, current
from .steps import command


def _refresh(run: Run, apply: bool) -> None:  # noqa: A002 - the option's name
    from ..packages.mirror import mirror_url, newest_versions
    from ..packages.refresh import apply as apply_updates
    from ..packages.refresh import locks, pending, table
    project = run.project
    started = time.monotonic()
    all_locks = locks(project)
    if not all_locks:
        say("no resource has a packages.lock: nothing to refresh (a build writes each lock)")
        return
    arches = {p.arch for locked in all_locks.values() for p in locked.values()}
    index = newest_versions(arches)
    updates = pending(project, index)
    for line in table(updates):
        say(line)
    say(f"asked {mirror_url()} about {len(all_locks)} lock(s) in {time.monotonic() - started:.1f} s")
    if not updates:
        say("every lock is current: nothing to change")
        return
    if not apply:
        say("`doit refresh --apply` rewrites these locks and bumps the resources")
        return

    def released(name: str) -> bool:
        return run.store.released(name, project.resources[name].version) is not None

    written, bumps = apply_updates(project, updates, released)
    for path in written:
        say(f"rewrote {display_path(path)}")
    for bump in bumps:
        note = "" if bump.why == "asked" else f" ({bump.why})"
        say(f"{bump}   {project.resources[bump.resource].where('version')}{note}")
    say(f"{len(written)} lock(s) rewritten, {len(bumps)} resource(s) bumped; `doit` rebuilds them once each")


def task_refresh() -> dict[str, Any]:
    """Ask Debian's mirror which locked packages have newer versions; --apply rewrites locks and bumps."""
    run = current()
    return {"actions": [(command(_refresh), [run])], "verbosity": 2,
            "params": [{"name": "apply", "long": "apply", "type": bool, "default": False,
                        "help": "rewrite the locks and bump the affected resources' patch versions"}],
            "doc": "pending Debian updates per resource (--apply: rewrite locks, bump versions)"}


DIFF_USAGE = "doit diff <resource> [<version> <version>]"


def _diff(run: Run, arguments: list[str] | None) -> None:
    from ..packages.diff import diff
    from ..packages.sbom import read_components, sbom_folder, sbom_path, versions_with_sbom
    arguments = list(arguments or [])
    settings = run.project.settings
    if len(arguments) not in (1, 3) or arguments[0] not in run.project.resources:
        raise StepFailed(f"usage: {DIFF_USAGE} — resources: {', '.join(sorted(run.project.resources))}")
    name = arguments[0]
    if len(arguments) == 3:
        old, new = arguments[1], arguments[2]
    else:
        known = versions_with_sbom(settings, name)
        if len(known) < 2:
            raise StepFailed(f"{name} has {len(known)} released version(s) with an SBOM here "
                             f"({display_path(sbom_folder(settings, name))}): name two versions")
        old, new = known[-2], known[-1]
    missing = [v for v in (old, new) if not sbom_path(settings, name, v).is_file()]
    if missing:
        raise StepFailed(f"no SBOM of {name} {', '.join(missing)} here — released versions with one: "
                         f"{', '.join(versions_with_sbom(settings, name)) or 'none'}")
    changes = diff(read_components(sbom_path(settings, name, old)), read_components(sbom_path(settings, name, new)))
    say(f"{name} {old} → {new}: {len(changes.added)} added, {len(changes.removed)} removed, "
        f"{len(changes.changed)} changed")
    for line in changes.lines():
        say(f"  {line}")


def task_diff() -> dict[str, Any]:
    """Packages added, removed and changed between two released versions (default: the last two)."""
    run = current()
    return {"actions": [(command(_diff), [run])],
            "verbosity": 2, "pos_arg": "arguments", "doc": f"package changes between versions: {DIFF_USAGE}"}


def _verify(run: Run, names: list[str] | None) -> None:
    from ..packages.verify import SHOWN, verify
    names = list(names or [])
    project = run.project
    if len(names) != 1 or names[0] not in project.resources:
        raise StepFailed(f"usage: doit verify <resource> — resources: {', '.join(sorted(project.resources))}")
    name = names[0]
    started = time.monotonic()
    image = run.local_image(name)
    base = project.resources[name].base
    verdict = verify(project, run.engine, name, image, run.local_image(base) if base else None,
                     prefixed(name), say)
    root = base is None
    if root:
        say(f"image id: {'identical' if verdict.same_id else 'DIFFERENT'} ({image[7:19]})")
    say(f"file tree: {len(verdict.tree)} difference(s); {verdict.timestamps} path(s) differ only in their time")
    for line in verdict.tree[:SHOWN]:
        say(f"  {line}")
    say(f"packages: {len(verdict.packages)} difference(s)")
    for line in verdict.packages[:SHOWN]:
        say(f"  {line}")
    say(f"verified {name} in {time.monotonic() - started:.1f} s")
    if (root and not verdict.same_id) or not verdict.reproduced:
        raise StepFailed(f"{name} did not rebuild to the same " + ("image id" if root else "file tree and packages"))


def task_verify() -> dict[str, Any]:
    """Rebuild a resource in a private namespace and compare: identical id for roots; file tree and packages."""
    run = current()
    return {"actions": [(command(_verify), [run])], "verbosity": 2, "pos_arg": "names",
            "doc": "rebuild <resource> privately and compare with its image: doit verify <resource>"}
