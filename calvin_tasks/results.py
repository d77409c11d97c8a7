"""Smoke-test results: JSON and JUnit XML reports, and the record of what passed.

The record of a pass (image id, build and test fingerprints, when and on which host) lives in
the output folder, not in doit's database: deleting the database does not re-run passed tests.
Every run writes a report for every tested resource: one whose tests passed in an earlier run
gets a report saying so, with when and where (CI's `junit` step always finds one per resource).
The JUnit XML itself is junit.py's.
"""
from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, Sequence

from .errors import display_path
from .files import read_json, write_atomic
from .model import TIMESTAMP, Fingerprints, Resource, Settings


@cache
def hostname() -> str:
    return socket.gethostname()


def reports_dir(settings: Settings) -> Path:
    return _under(settings.output, "reports")


def record_path(settings: Settings, name: str) -> Path:
    return _under(settings.output, "state", "tests") / f"{settings.namespace}--{name}.json"


@cache
def _under(output: Path, *parts: str) -> Path:
    """A folder under the output, joined once per run: a no-op run asks for it per resource, often."""
    return output.joinpath(*parts)


@dataclass(frozen=True)
class Earlier:
    """Where a pass this run re-uses comes from: when and on which host, when known."""

    where: str               # "the pass record out/state/tests/…" | "the tested mark … in the release store"
    time: str | None = None  # UTC, TIMESTAMP
    host: str | None = None

    def note(self) -> str:
        when = f" at {self.time}" if self.time else ""
        on = f" on {self.host}" if self.host else ""
        return f"passed in an earlier run{when}{on} ({self.where}); not run again"


def write_reports(settings: Settings, name: str, image: str, fingerprints: Fingerprints,
                  results: Sequence[Any]) -> tuple[Path, Path]:
    """The reports of the checks this run ran."""
    failed = [r for r in results if not r.passed]
    now = datetime.now(timezone.utc)
    summary = _summary(name, image, fingerprints, now, [asdict(r) for r in results], failed=len(failed))
    from . import junit  # xml.etree loads when a report is written: a no-op run writes none

    return _write(settings, name, summary, junit.ran(name, now, hostname(), results))


def write_reused_reports(settings: Settings, resource: Resource, image: str, fingerprints: Fingerprints,
                         earlier: Earlier) -> tuple[Path, Path]:
    """The reports of a resource whose image passed these very tests in an earlier run: every
    check a passed testcase that took no time in this run, marked as re-used, with when and where."""
    name = resource.name
    now = datetime.now(timezone.utc)
    current = reused_report(settings, name, image, fingerprints)
    if current is not None:  # a no-op run rewrites nothing
        return reports_dir(settings) / f"{name}.json", current
    before = read_summary(settings, name)
    if before is not None and before.get("passed") and not before.get("reused") and _same(before, image,
                                                                                       fingerprints):
        checks = [(str(c["kind"]), str(c["name"]), float(c.get("seconds") or 0)) for c in before["checks"]]
    else:  # the earlier report is elsewhere (another machine, an older output folder): the checks by name
        checks = [(check.kind, check.name, 0.0) for check in resource.checks]
    note = earlier.note()
    summary = _summary(name, image, fingerprints, now,
                       [{"resource": name, "kind": kind, "name": check, "passed": True, "message": note,
                         "seconds": 0.0, "log": ""} for kind, check, _ in checks], failed=0, reused=earlier)
    from . import junit

    properties = (("calvin.reused", "true"), ("calvin.passed_at", earlier.time or "unknown"),
                  ("calvin.passed_on", earlier.host or "unknown"), ("calvin.source", earlier.where))
    return _write(settings, name, summary, junit.reused(name, now, hostname(), checks, properties, note))


def reused_report(settings: Settings, name: str, image: str, fingerprints: Fingerprints) -> Path | None:
    """The JUnit report that already says this image passed these tests in an earlier run, if any."""
    before = read_summary(settings, name)
    junit_path = reports_dir(settings) / f"{name}.junit.xml"
    if before is not None and before.get("passed") and before.get("reused") and _same(before, image, fingerprints) \
            and junit_path.is_file():
        return junit_path
    return None


def _summary(name: str, image: str, fingerprints: Fingerprints, now: datetime, checks: list[dict[str, Any]],
             *, failed: int, reused: Earlier | None = None) -> dict[str, Any]:
    """The JSON report of one resource's checks: run now, or re-used from `reused`."""
    return {
        "resource": name,
        "image": image,
        "build_fingerprint": fingerprints.build,
        "test_fingerprint": fingerprints.test,
        "time": now.strftime(TIMESTAMP),
        "host": hostname(),
        "passed": not failed,
        "reused": asdict(reused) if reused else None,
        "counts": {"checks": len(checks), "failed": failed},
        "checks": checks,
    }


def _write(settings: Settings, name: str, summary: dict[str, Any], junit_text: str) -> tuple[Path, Path]:
    json_path = reports_dir(settings) / f"{name}.json"
    write_atomic(json_path, json.dumps(summary, indent=2) + "\n")
    junit_path = reports_dir(settings) / f"{name}.junit.xml"
    write_atomic(junit_path, junit_text)
    return json_path, junit_path


def _same(summary: dict[str, Any], image: str, fingerprints: Fingerprints) -> bool:
    return bool(summary.get("image") == image and summary.get("build_fingerprint") == fingerprints.build
                and summary.get("test_fingerprint") == fingerprints.test)


def record_pass(settings: Settings, name: str, image: str, fingerprints: Fingerprints, checks: int) -> None:
    write_atomic(record_path(settings, name), json.dumps({
        "image": image, "build": fingerprints.build, "test": fingerprints.test, "checks": checks,
        "time": datetime.now(timezone.utc).strftime(TIMESTAMP), "host": hostname()}) + "\n")


def forget_pass(settings: Settings, name: str) -> None:
    record_path(settings, name).unlink(missing_ok=True)


def _record(settings: Settings, name: str, image: str, fingerprints: Fingerprints) -> dict[str, Any] | None:
    try:
        record = read_json(record_path(settings, name))
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("image") == image and record.get("build") == fingerprints.build \
            and record.get("test") == fingerprints.test:
        return record
    return None


def passed(settings: Settings, name: str, image: str, fingerprints: Fingerprints) -> bool:
    """Whether this very image passed this very version of its smoke tests."""
    return _record(settings, name, image, fingerprints) is not None


def earlier_pass(settings: Settings, name: str, image: str, fingerprints: Fingerprints) -> Earlier | None:
    """This machine's record of this image passing these tests: when and on which host."""
    record = _record(settings, name, image, fingerprints)
    if record is None:
        return None
    return Earlier(f"the pass record {display_path(record_path(settings, name), settings.root)}", record.get("time"),
                   record.get("host"))


def read_summary(settings: Settings, name: str) -> dict[str, Any] | None:
    try:
        return dict(read_json(reports_dir(settings) / f"{name}.json"))
    except (OSError, ValueError, TypeError):
        return None
