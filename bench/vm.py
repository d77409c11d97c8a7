"""The VM chain's benchmark: vms/ (vm-base-linux → vm-build-executor) copied to a scratch folder and
run as a user runs it, under a namespace of its own, against a registry of its own.

    python -m bench.vm [--child-only]

Steps, each timed (wall clock, whole `doit` runs):
  cold       doit: build, boot-test and release both disks (empty engine, empty registry)
  no-op      doit again: nothing to do
  child      one provisioning file of vm-build-executor changed (and its version bumped): only the child is
             built, tested and released
  fresh      a machine with the registry only (namespace removed, records gone): `doit` builds and
             tests nothing, downloads nothing
The accelerator used and the disk sizes are printed; everything made is removed afterwards.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .registry import start_registry

REPO = Path(__file__).resolve().parent.parent
DOIT = [sys.executable, "-m", "doit"]


def _doit(project: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([*DOIT, *args], cwd=project, env=env, capture_output=True, text=True, timeout=7200)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"doit {' '.join(args)} failed after {seconds:.0f} s:\n"
                         f"{done.stdout[-4000:]}{done.stderr[-2000:]}")
    for line in done.stdout.splitlines():  # the steps' own times: builds, boots, releases
        if any(mark in line for mark in ("| built ", "· booted in", "| released ")):
            print(f"  {seconds:7.1f} s run | {line.strip()[:150]}", flush=True)
    return seconds, done.stdout + done.stderr


def _remove_namespace(namespace: str) -> None:
    listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                            text=True).stdout.split()
    mine = [ref for ref in listed if f"{namespace}/" in ref]
    if mine:
        subprocess.run(["docker", "rmi", "-f", *mine], capture_output=True)


def main() -> None:
    namespace = f"calvin-bench-vm-{secrets.token_hex(3)}"
    scratch = Path(tempfile.mkdtemp(prefix="calvin-bench-vm-"))
    project = scratch / "vms"
    shutil.copytree(REPO / "vms", project, ignore=shutil.ignore_patterns("out", ".doit.sqlite3*"))
    registry = start_registry(scratch / "registry")
    env = dict(os.environ, CALVIN_NAMESPACE=namespace, CALVIN_REGISTRY=registry.address, PYTHONUNBUFFERED="1")
    rows: list[tuple[str, float, str]] = []
    try:
        seconds, out = _doit(project, env)
        boots = re.findall(r"· booted in ([0-9.]+) s \((\w+),", out)
        rows.append(("cold build, boot-test, release", seconds, f"boots {', '.join(b for b, _ in boots)} s; "
                                                                f"accelerator {boots[0][1] if boots else '?'}"))
        rows.append(("no-op", _doit(project, env)[0], "nothing to do"))
        child = project / "resources" / "vm-build-executor"
        (child / "provision.sh").write_text((child / "provision.sh").read_text() + "# bench: a changed child\n")
        resource = child / "resource.yaml"  # a new fingerprint needs a new version (else: version not bumped)
        resource.write_text(resource.read_text().replace("\nversion: 1.0.0\n", "\nversion: 1.0.1\n", 1))
        seconds, out = _doit(project, env)
        rows.append(("one changed child", seconds, "built: " + ", ".join(sorted(set(
            re.findall(r"(\S+) \| built ", out)))) or "?"))
        _remove_namespace(namespace)
        shutil.rmtree(project / "out", ignore_errors=True)
        seconds, out = _doit(project, env)
        rows.append(("fresh machine with the registry", seconds, out.strip().splitlines()[-1][:100]))
        sizes = subprocess.run(["du", "-sh", str(registry.folder)], capture_output=True, text=True).stdout.split()[:1]
        print(f"registry storage: {sizes}")
    finally:
        _remove_namespace(namespace)
        registry.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'step':<34} {'seconds':>8}  notes")
    for step, seconds, note in rows:
        print(f"{step:<34} {seconds:>8.1f}  {note}")


if __name__ == "__main__":
    main()
