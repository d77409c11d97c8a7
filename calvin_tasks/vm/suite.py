"""Run a VM resource's smoke checks: one boot of its disk (bounded, on a throwaway overlay), every
check against it, the VM killed and deleted afterwards."""
from __future__ import annotations

import time
from typing import Callable, Sequence

from ..engine import Engine
from ..errors import StepFailed
from ..model import CheckSpec, Project
from ..smoke.kinds import CheckResult
from ..smoke.suite import container_labels
from .checks import VM_CHECK_KINDS, VmContext, forwarded_ports, wants_network
from .disk import Disk
from .image import unpack
from .machine import Bounds, Machine


def run_vm_check(ctx: VmContext, resource: str, check: CheckSpec) -> CheckResult:
    started = time.monotonic()
    kind = VM_CHECK_KINDS.get(check.kind)
    if kind is None:
        passed, why, log = False, f"{check.kind} checks are for container images", ""
    else:
        try:
            passed, why, log = kind.run(ctx, check.spec)
        except (StepFailed, OSError, ValueError) as err:
            passed, why, log = False, str(err), ""
    return CheckResult(resource, check.kind, check.name, passed, why, round(time.monotonic() - started, 3), log)


def run_vm_suite(resource: str, disk: Disk, checks: Sequence[CheckSpec], say: Callable[[str], None], *,
                 bounds: Bounds = Bounds(), timeout: float = 60.0) -> list[CheckResult]:
    """Boot `disk` once and run every check against it, printing a line per check."""
    with Machine(disk, bounds, forwards=forwarded_ports(checks), network=wants_network(checks)) as machine:
        say(f"{resource} · booted in {machine.boot_seconds:.1f} s ({machine.accel}, {bounds.memory_mb} MB, "
            f"{bounds.cpus} CPU)")
        ctx = VmContext(machine, timeout)
        results = []
        for check in checks:
            result = run_vm_check(ctx, resource, check)
            results.append(result)
            label = f"{resource} · {check.name} "
            say(f"{label}{'.' * max(3, 64 - len(label))} {'passed' if result.passed else 'FAILED'} "
                f"({result.seconds:.1f} s)")
            if not result.passed:
                say(f"    {result.message}")
                for line in result.log.strip().splitlines()[-20:]:
                    say(f"    | {line}")
        return results


def run_vm_image_suite(project: Project, engine: Engine, name: str, image: str,
                       say: Callable[[str], None]) -> list[CheckResult]:
    """The smoke checks of a VM resource, on the disk its image holds (taken out once per image). A
    resource that says `tests: none` and has no checks is not booted (else the boot itself is a check)."""
    if not project.resources[name].checks and project.resources[name].untested_ok:
        say(f"{name} · tests: none — not booted")
        return []
    disk = unpack(engine, image, project.settings.output / "disks", container_labels(project, name))
    return run_vm_suite(name, disk, project.resources[name].checks, say, timeout=project.settings.test_timeout)
