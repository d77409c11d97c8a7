"""Package locks, dpkg status parsing, mirror indices, SBOMs and diffs — without an engine."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from calvin_tasks.errors import InputError
from calvin_tasks.packages.diff import diff
from calvin_tasks.packages.inventory import parse_status
from calvin_tasks.packages.lock import Package, by_key, differences, read_lock, write_lock
from calvin_tasks.packages.mirror import SECURITY_SUITE, Available, newer, parse_packages
from calvin_tasks.model import Settings
from calvin_tasks.packages import sbom as sbom_module
from calvin_tasks.packages.facts import package_facts
from calvin_tasks.packages.sbom import created_of, make_sbom, read_packages, write_sbom

CURL = Package("curl", "7.88.1-10+deb12u5", "amd64", "curl")
LIBC = Package("libc6", "2.36-9+deb12u7", "amd64", "glibc")


def test_status_keeps_installed_packages_with_their_source_package() -> None:
    text = ("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc (2.36-9)\n"
            "Version: 2.36-9+deb12u7\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
            "Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n")
    packages = parse_status(text)
    assert sorted(packages) == ["libc6:amd64", "tzdata:all"]
    assert packages["libc6:amd64"] == LIBC
    assert packages["tzdata:all"].source == "tzdata"


def test_lock_round_trip_and_differences(tmp_path: Path) -> None:
    write_lock(tmp_path, by_key([LIBC, CURL]))
    assert read_lock(tmp_path) == by_key([CURL, LIBC])
    newer_curl = Package("curl", "7.88.1-10+deb12u14", "amd64", "curl")
    extra = Package("zlib1g", "1:1.2.13.dfsg-1", "amd64", "zlib")
    assert differences(by_key([CURL, LIBC]), by_key([newer_curl, extra])) == [
        "curl:amd64 is 7.88.1-10+deb12u14 in the image, 7.88.1-10+deb12u5 in the lock",
        "libc6:amd64 2.36-9+deb12u7 is locked, not in the image",
        "zlib1g:amd64 1:1.2.13.dfsg-1 is in the image, not in the lock"]
    assert read_lock(tmp_path / "nowhere") is None


def test_a_broken_lock_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "packages.lock").write_text("# header\ncurl 7.88\n")
    with pytest.raises(InputError) as caught:
        read_lock(tmp_path)
    assert "packages.lock:2" in str(caught.value)


def test_mirror_index_keeps_the_newest_version_and_marks_security() -> None:
    index: dict[str, Available] = {}
    parse_packages(b"Package: curl\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\n\n"
                   b"Package: curl\nVersion: 7.88.1-10+deb12u12\nArchitecture: amd64\n", "bookworm", index)
    parse_packages(gzip.decompress(gzip.compress(b"Package: curl\nVersion: 7.88.1-10+deb12u14\n"
                                                 b"Architecture: amd64\n")), SECURITY_SUITE, index)
    assert index["curl:amd64"] == Available("7.88.1-10+deb12u14", SECURITY_SUITE)
    assert index["curl:amd64"].security
    assert newer("7.88.1-10+deb12u5", index["curl:amd64"])
    assert not newer("1:7.0", index["curl:amd64"])  # an epoch outranks any upstream version


def test_sbom_is_valid_cyclonedx_with_deb_and_pypi_purls_and_reads_back(tmp_path: Path) -> None:
    text = make_sbom("base-linux", "1.0.1", "f" * 64, created_of("2026-12-01T10:00:00Z"), by_key([CURL, LIBC]),
                     {"Django": "4.2.16"})
    document = json.loads(text)
    purls = sorted(c["purl"] for c in document["components"])
    assert purls == ["pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64",
                     "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64", "pkg:pypi/django@4.2.16"]
    assert document["metadata"]["timestamp"].startswith("2026-12-01T10:00:00")
    again = make_sbom("base-linux", "1.0.1", "f" * 64, created_of("2026-12-01T10:00:00Z"), by_key([LIBC, CURL]),
                      {"Django": "4.2.16"})
    assert again == text  # the same image gives the same SBOM, byte for byte
    path = tmp_path / "sbom.json"
    path.write_text(text)
    assert read_packages(path) == by_key([CURL, LIBC])


def test_diff_names_added_removed_and_changed() -> None:
    newer_curl = Package("curl", "7.88.1-10+deb12u14", "amd64", "curl")
    tini = Package("tini", "0.19.0-1", "amd64", "tini")
    changes = diff(by_key([CURL, LIBC]), by_key([newer_curl, tini]))
    assert changes.lines() == ["+ tini:amd64 0.19.0-1", "- libc6:amd64 2.36-9+deb12u7",
                               "~ curl:amd64 7.88.1-10+deb12u5 → 7.88.1-10+deb12u14"]
    assert not diff(by_key([CURL]), by_key([CURL]))


def test_package_facts_are_read_from_the_sboms_once_and_again_when_they_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(root=tmp_path)
    created = created_of("2026-12-01T10:00:00Z")
    write_sbom(settings, "base", "1.0.0", make_sbom("base", "1.0.0", "a" * 64, created, by_key([CURL])))
    first = package_facts(settings, [("base", "1.0.0"), ("other", "2.0.0")])
    assert first["other"] is None  # no SBOM here
    assert first["base"] is not None and first["base"]["packages"] == 1 and "changes_since" not in first["base"]

    reads: list[str] = []
    real = sbom_module.sbom_facts
    monkeypatch.setattr(sbom_module, "sbom_facts", lambda *args: reads.append(args[1]) or real(*args))
    assert package_facts(settings, [("base", "1.0.0")]) == {"base": first["base"]}
    assert reads == []  # unchanged: the cache answers

    write_sbom(settings, "base", "1.1.0", make_sbom("base", "1.1.0", "b" * 64, created, by_key([CURL, LIBC])))
    second = package_facts(settings, [("base", "1.1.0")])["base"]
    assert reads == ["base"] and second is not None and second["packages"] == 2
    assert second["changes_since"]["version"] == "1.0.0" and second["sbom_digest"] != first["base"]["sbom_digest"]

    write_sbom(settings, "base", "1.0.0", make_sbom("base", "1.0.0", "a" * 64, created, by_key([LIBC])))
    third = package_facts(settings, [("base", "1.1.0")])["base"]  # the previous version's SBOM changed
    assert reads == ["base", "base"] and third is not None and third["changes_since"] != second["changes_since"]
