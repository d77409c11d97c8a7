"""Wheels in packages.lock: METADATA parsing, lock lines, comparison, SBOM purls and diffs — no engine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from calvin_tasks.errors import InputError
from calvin_tasks.packages.diff import diff
from calvin_tasks.packages.lock import Package, by_key, differences, read_lock, read_locked_wheels, write_lock
from calvin_tasks.packages.sbom import created_of, make_sbom, read_components, read_wheels
from calvin_tasks.packages.wheels import Wheel, normalise, parse_metadata, wheels_by_key

LIBC = Package("libc6", "2.36-9+deb12u7", "amd64", "glibc")
HASH = "sha256:" + "c7" * 32
WWW = Wheel("buildbot-www", "3.7.0", (HASH,))
CONTROLLER_LOCK = Path(__file__).resolve().parents[1] / "resources" / "build-controller"


def test_names_are_normalised_as_pep_503_says() -> None:
    assert normalise("Buildbot_WWW") == "buildbot-www"
    assert normalise("zope.interface") == "zope-interface"
    assert normalise("A__b-.C") == "a-b-c"


def test_metadata_gives_the_normalised_name_and_version() -> None:
    text = "Metadata-Version: 2.1\nName: Buildbot_Waterfall.View\nVersion: 3.7.0\nSummary: x\n\nLong text.\n"
    assert parse_metadata(text) == Wheel("buildbot-waterfall-view", "3.7.0")
    assert parse_metadata("Metadata-Version: 2.1\nName: nameless-version\n") is None


def test_the_lock_keeps_wheels_with_their_hashes_when_rewritten(tmp_path: Path) -> None:
    write_lock(tmp_path, by_key([LIBC]), epoch=1, wheels=wheels_by_key([WWW]))
    text = (tmp_path / "packages.lock").read_text()
    assert f"pypi:buildbot-www\t3.7.0\t{HASH}\n" in text
    assert read_lock(tmp_path) == by_key([LIBC])  # Debian lines only
    assert read_locked_wheels(tmp_path) == {"pypi:buildbot-www": WWW}
    write_lock(tmp_path, by_key([LIBC]), epoch=2)  # as `doit refresh --apply` rewrites it: wheels kept
    assert read_locked_wheels(tmp_path) == {"pypi:buildbot-www": WWW}
    assert read_locked_wheels(tmp_path / "nowhere") == {}


def test_a_wheel_read_from_an_image_is_locked_without_a_hash(tmp_path: Path) -> None:
    write_lock(tmp_path, by_key([LIBC]), epoch=1, wheels=wheels_by_key([Wheel("buildbot-www", "3.7.0")]))
    assert "pypi:buildbot-www\t3.7.0\t-\n" in (tmp_path / "packages.lock").read_text()
    assert read_locked_wheels(tmp_path)["pypi:buildbot-www"].hashes == ()


@pytest.mark.parametrize("line", ["pypi:Buildbot_WWW\t3.7.0\t-", "pypi:buildbot-www\t3.7.0\tmd5:abc",
                                  "pypi:buildbot-www\t3.7.0"])
def test_a_broken_wheel_line_is_named(tmp_path: Path, line: str) -> None:
    (tmp_path / "packages.lock").write_text(f"# header\nlibc6\t2.36\tamd64\tglibc\n{line}\n")
    with pytest.raises(InputError) as caught:
        read_lock(tmp_path)
    assert "packages.lock:3" in str(caught.value) and "pypi:<normalised name>" in str(caught.value)


def test_wheels_that_differ_from_the_lock_are_named() -> None:
    image = wheels_by_key([Wheel("buildbot-www", "3.8.0"), Wheel("six", "1.16.0")])
    locked = wheels_by_key([WWW, Wheel("buildbot-grid-view", "3.7.0", (HASH,))])
    assert differences(locked, image) == [
        "pypi:buildbot-grid-view 3.7.0 is locked, not in the image",
        "pypi:buildbot-www is 3.8.0 in the image, 3.7.0 in the lock",
        "pypi:six 1.16.0 is in the image, not in the lock"]
    assert differences(locked, {**locked}) == []


def test_the_sbom_lists_wheels_as_pypi_purls_and_the_diff_names_their_changes(tmp_path: Path) -> None:
    old = make_sbom("ctl", "1.0.0", "a" * 64, created_of(None), by_key([LIBC]), {"Buildbot_WWW": "3.7.0"})
    new = make_sbom("ctl", "1.0.1", "b" * 64, created_of(None), by_key([LIBC]),
                    {"buildbot-www": "3.8.0", "Twisted": "22.4.0"})
    purls = [c["purl"] for c in json.loads(old)["components"]]
    assert "pkg:pypi/buildbot-www@3.7.0" in purls  # validated by make_sbom (CycloneDX 1.5 schema)
    (tmp_path / "old.json").write_text(old)
    (tmp_path / "new.json").write_text(new)
    assert read_wheels(tmp_path / "old.json") == {"pypi:buildbot-www": Wheel("buildbot-www", "3.7.0")}
    changes = diff(read_components(tmp_path / "old.json"), read_components(tmp_path / "new.json"))
    assert changes.lines() == ["+ pypi:twisted 22.4.0", "~ pypi:buildbot-www 3.7.0 → 3.8.0"]


def test_the_controller_lock_holds_its_hash_pinned_web_ui_wheels() -> None:
    wheels = read_locked_wheels(CONTROLLER_LOCK)
    assert sorted(wheels) == ["pypi:buildbot-console-view", "pypi:buildbot-grid-view",
                              "pypi:buildbot-waterfall-view", "pypi:buildbot-www"]
    assert all(len(w.hashes) == 1 and w.version == "3.7.0" for w in wheels.values())
    assert not (CONTROLLER_LOCK / "requirements-www.txt").exists()  # the lock is the one source
