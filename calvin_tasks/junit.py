"""JUnit XML reports for CI: one testsuite per resource, of the checks run now or re-used from an
earlier pass. Loaded when a report is written: a run that rewrites none does not import xml.etree."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any, Sequence

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Text XML 1.0 can hold: container logs bring colour codes and other control characters."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def ran(name: str, now: datetime, host: str, results: Sequence[Any]) -> str:
    """The checks this run ran (CheckResult: kind, name, passed, message, seconds, log)."""
    failed = [r for r in results if not r.passed]
    suite = _suite(name, now, host, tests=len(results), failures=len(failed), seconds=sum(r.seconds for r in results))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{result.kind}", name=xml_text(result.name),
                             time=f"{result.seconds:.3f}")
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=xml_text(result.message))
            failure.text = xml_text(result.log or result.message)
    return _document(suite)


def reused(name: str, now: datetime, host: str, checks: Sequence[tuple[str, str, float]],
           properties: Sequence[tuple[str, str]], note: str) -> str:
    """Every check (kind, name, seconds it took then) a passed testcase that took no time now."""
    suite = _suite(name, now, host, tests=len(checks), failures=0, seconds=0.0)
    listed = ET.SubElement(suite, "properties")
    for key, value in properties:
        ET.SubElement(listed, "property", name=key, value=xml_text(value))
    for kind, check, seconds in checks:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{kind}", name=xml_text(check), time="0.000")
        out = ET.SubElement(case, "system-out")
        out.text = xml_text(note + (f"; it took {seconds:.3f} s then" if seconds else ""))
    return _document(suite)


def _suite(name: str, now: datetime, host: str, *, tests: int, failures: int, seconds: float) -> ET.Element:
    return ET.Element("testsuite", name=f"calvin.{name}", tests=str(tests), failures=str(failures), errors="0",
                      skipped="0", time=f"{seconds:.3f}", timestamp=now.strftime("%Y-%m-%dT%H:%M:%S"),
                      hostname=xml_text(host))


def _document(suite: ET.Element) -> str:
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode")
