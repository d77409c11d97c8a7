"""tests.yaml's check kinds against a booted VM: the same specs as for containers, read in the guest.

    command   run over SSH (as root, or `user` through runuser), output and status checked
    file      stat and read in the guest, symlinks followed unless type: symlink is asked
    metadata  the VM's facts: users, listening (ports), units (enabled), labels (the disk's)
    service   the unit already runs in the guest: its port is forwarded to 127.0.0.1 at boot, waited
              for (bounded) and asked; its `commands` run over SSH
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from ..engine import Outcome
from ..smoke.kinds import FILE_READ_LIMIT, env_text, expect_output
from ..smoke.service import _http_once, _listening
from .machine import Machine


@dataclass(frozen=True)
class VmContext:
    machine: Machine
    timeout: float


class VmCheckKind(Protocol):
    def run(self, ctx: VmContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        """(passed, why, log to show on failure)."""


def run_command(ctx: VmContext, spec: Mapping[str, Any], timeout: float) -> Outcome:
    done = ctx.machine.ssh(list(spec["run"]), timeout=timeout, env=env_text(spec.get("env")), user=spec.get("user"))
    text = (done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))
    return Outcome(done.returncode, *text, timed_out=done.returncode == -9 and text[1].endswith("timed out"))


class VmCommand:
    def run(self, ctx: VmContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        timeout = float(spec.get("timeout", ctx.timeout))
        outcome = run_command(ctx, spec, timeout)
        wrong = [f"timed out after {timeout:g} s"] if outcome.timed_out else expect_output(spec, outcome)
        return not wrong, "; ".join(wrong), (outcome.stdout + outcome.stderr)[-2000:]


_TYPES = {"regular file": "file", "regular empty file": "file", "directory": "directory",
          "symbolic link": "symlink"}


class VmFile:
    def run(self, ctx: VmContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        path = spec["path"]
        follow = spec.get("type") != "symlink"
        stat = ctx.machine.ssh(["stat", *(["-L"] if follow else []), "-c", "%F|%a|%u|%g", path],
                               timeout=ctx.timeout)
        exists = stat.returncode == 0
        if not spec.get("exists", True):
            return not exists, "" if not exists else f"{path} exists, expected it absent", ""
        if not exists:
            return False, f"{path} does not exist", ""
        kind, mode, uid, gid = stat.stdout.decode().strip().split("|")
        kind = _TYPES.get(kind, "other")
        wrong = []
        if "type" in spec and kind != spec["type"]:
            wrong.append(f"is a {kind}, expected a {spec['type']}")
        if "mode" in spec and int(mode, 8) != int(spec["mode"], 8):
            wrong.append(f"mode {int(mode, 8):04o}, expected {int(spec['mode'], 8):04o}")
        if "owner" in spec:
            want_uid, _, want_gid = spec["owner"].partition(":")
            if int(uid) != int(want_uid) or (want_gid and int(gid) != int(want_gid)):
                wrong.append(f"owner {uid}:{gid}, expected {spec['owner']}")
        if ("contains" in spec or "excludes" in spec) and kind == "file":
            text = ctx.machine.ssh(["head", "-c", str(FILE_READ_LIMIT), path],
                                   timeout=ctx.timeout).stdout.decode("utf-8", "replace")
            if "contains" in spec and not re.search(spec["contains"], text, re.MULTILINE):
                wrong.append(f"content does not match /{spec['contains']}/")
            if "excludes" in spec and re.search(spec["excludes"], text, re.MULTILINE):
                wrong.append(f"content matches /{spec['excludes']}/")
        return not wrong, f"{path}: " + "; ".join(wrong) if wrong else "", ""


def facts(ctx: VmContext, key: str, wanted: list[str]) -> tuple[set[str], str]:
    """users (the passwd database), listening (port/proto), units (of `wanted`, those enabled); and
    what the guest said on stderr."""
    commands = {"users": ["getent", "passwd"], "listening": ["ss", "-Hltun"],
                "units": ["systemctl", "is-enabled", "--", *wanted]}
    done = ctx.machine.ssh(commands[key], timeout=ctx.timeout)
    text, errors = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace").strip()
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if key == "users":
        return {line[0].split(":", 1)[0] for line in lines}, errors
    if key == "units":  # one state per unit asked, in order
        states = [line[0] if line else "" for line in lines]
        return {unit for unit, state in zip(wanted, states) if state in ENABLED}, errors
    return {f"{line[4].rsplit(':', 1)[-1]}/{line[0]}" for line in lines if len(line) > 4}, errors


ENABLED = ("enabled", "enabled-runtime", "alias")


class VmMetadata:
    def run(self, ctx: VmContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        key, expected = spec["key"], spec["expected"]
        if key == "labels":
            labels = ctx.machine.disk.labels()
            wrong = [f"label {k}={labels.get(k)!r}, expected {v!r}" for k, v in expected.items() if labels.get(k) != v]
            return not wrong, "; ".join(wrong), ""
        if key not in ("users", "listening", "units"):
            return False, f"metadata {key} is a container image's; a VM's are users, listening, units, labels", ""
        wanted = [w if key != "listening" or "/" in w else f"{w}/tcp" for w in expected]
        found, errors = facts(ctx, key, wanted)
        missing = [w for w in wanted if w not in found]
        if not missing:
            return True, "", ""
        has = "enabled: " + (", ".join(sorted(found)) or "none of them") if key == "units" else \
            "has: " + ", ".join(sorted(found))
        return False, f"{key} lacks {', '.join(missing)} ({has})", errors


class VmService:
    def run(self, ctx: VmContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        port = int(spec["port"])
        host_port = ctx.machine.ports.get(port)
        if host_port is None:
            return False, f"port {port} was not forwarded when the VM booted", ""
        timeout = float(spec.get("timeout", ctx.timeout))
        deadline, last = time.monotonic() + timeout, "no answer yet"
        while True:
            if "http" in spec:
                ok, last = _http_once(host_port, spec["http"], timeout=5.0)
            else:
                ok, last = _listening(host_port, timeout=1.0)
            if ok:
                break
            if time.monotonic() > deadline:
                return False, f"not ready within {timeout:g} s on port {port}: {last}", self._journal(ctx)
            time.sleep(1.0)
        wrong: list[str] = []
        for request in spec.get("requests") or []:
            ok, why = _http_once(host_port, request)
            if not ok:
                wrong.append(why)
        for command in spec.get("commands") or []:
            limit = float(command.get("timeout", ctx.timeout))
            outcome = run_command(ctx, command, limit)
            found = [f"timed out after {limit:g} s"] if outcome.timed_out else expect_output(command, outcome)
            wrong += [f"{command['name']}: {w}" for w in found]
        return not wrong, "; ".join(wrong), self._journal(ctx) if wrong else ""

    @staticmethod
    def _journal(ctx: VmContext) -> str:
        done = ctx.machine.ssh(["journalctl", "-b", "--no-pager", "-n", "40"], timeout=ctx.timeout)
        return done.stdout.decode("utf-8", "replace")


VM_CHECK_KINDS: dict[str, VmCheckKind] = {"command": VmCommand(), "file": VmFile(), "metadata": VmMetadata(),
                                          "service": VmService()}


def forwarded_ports(checks: Any) -> list[int]:
    """The guest ports the checks ask for: forwarded to 127.0.0.1 at boot, nothing else."""
    return sorted({int(c.spec["port"]) for c in checks if c.kind == "service"})


def wants_network(checks: Any) -> bool:
    """A check that asks for the network gets the VM user-mode NAT to the outside; else none."""
    return any(c.kind == "command" and c.spec.get("network") for c in checks)
