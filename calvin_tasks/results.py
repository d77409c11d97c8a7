"""Smoke-test results: JSON and JUnit XML reports, and the record of what passed.

The record of a pass (image id, build and test fingerprints) lives in the output
folder, not in doit's database: deleting the database does not re-run passed tests.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from .files import write_atomic
from .model import TIMESTAMP, Fingerprints, Settings


def reports_dir(settings: Settings) -> Path:
    return settings.output / "reports"


def record_path(settings: Settings, name: str) -> Path:
    return settings.output / "state" / "tests" / f"{settings.namespace}--{name}.json"


def write_reports(settings: Settings, name: str, image: str, fingerprints: Fingerprints,
                  results: Sequence[Any]) -> tuple[Path, Path]:
    failed = [r for r in results if not r.passed]
    summary = {
        "resource": name,
        "image": image,
        "build_fingerprint": fingerprints.build,
        "test_fingerprint": fingerprints.test,
        "time": datetime.now(timezone.utc).strftime(TIMESTAMP),
        "passed": not failed,
        "counts": {"checks": len(results), "failed": len(failed)},
        "checks": [asdict(r) for r in results],
    }
    json_path = reports_dir(settings) / f"{name}.json"
    write_atomic(json_path, json.dumps(summary, indent=2) + "\n")
    suite = ET.Element("testsuite", name=f"calvin.{name}", tests=str(len(results)), failures=str(len(failed)),
                       errors="0", time=f"{sum(r.seconds for r in results):.3f}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{result.kind}", name=_xml_text(result.name),
                             time=f"{result.seconds:.3f}")
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=_xml_text(result.message))
            failure.text = _xml_text(result.log or result.message)
    junit_path = reports_dir(settings) / f"{name}.junit.xml"
    write_atomic(junit_path, ET.tostring(_wrap(suite), encoding="unicode"))
    return json_path, junit_path


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Text XML 1.0 can hold: container logs bring colour codes and other control characters."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _wrap(suite: ET.Element) -> ET.Element:
    root = ET.Element("testsuites")
    root.append(suite)
    return root


def record_pass(settings: Settings, name: str, image: str, fingerprints: Fingerprints, checks: int) -> None:
    write_atomic(record_path(settings, name), json.dumps({
        "image": image, "build": fingerprints.build, "test": fingerprints.test, "checks": checks,
        "time": datetime.now(timezone.utc).strftime(TIMESTAMP)}) + "\n")


def forget_pass(settings: Settings, name: str) -> None:
    record_path(settings, name).unlink(missing_ok=True)


def passed(settings: Settings, name: str, image: str, fingerprints: Fingerprints) -> bool:
    """Whether this very image passed this very version of its smoke tests."""
    try:
        record = json.loads(record_path(settings, name).read_text())
    except (OSError, ValueError):
        return False
    return bool(record.get("image") == image and record.get("build") == fingerprints.build
                and record.get("test") == fingerprints.test)


def read_summary(settings: Settings, name: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads((reports_dir(settings) / f"{name}.json").read_text()))
    except (OSError, ValueError):
        return None
