"""The newest versions Debian's mirror serves for bookworm, bookworm-updates and bookworm-security.

The mirror is a setting: CALVIN_DEBIAN_MIRROR (default http://deb.debian.org) is the root holding
`debian/` and `debian-security/`, so a test can serve a directory of Packages files on 127.0.0.1.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterable, Mapping


from ..errors import StepFailed

DEFAULT_MIRROR = "http://deb.debian.org"
RELEASE = "bookworm"
SECURITY_SUITE = f"{RELEASE}-security"
SUITES = (("debian", RELEASE), ("debian", f"{RELEASE}-updates"), ("debian-security", SECURITY_SUITE))
_COMPRESSIONS = ((".xz", lzma.decompress), (".gz", gzip.decompress), (".bz2", bz2.decompress), ("", bytes))
TIMEOUT = 60.0


@dataclass(frozen=True)
class Available:
    version: str
    suite: str

    @property
    def security(self) -> bool:
        return self.suite == SECURITY_SUITE


Index = Mapping[str, Available]  # by name:arch — the newest version any suite serves


def mirror_url(environ: Mapping[str, str] | None = None) -> str:
    return (environ if environ is not None else os.environ).get("CALVIN_DEBIAN_MIRROR", DEFAULT_MIRROR).rstrip("/")


def _fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            return bytes(answer.read())
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise StepFailed(f"the Debian mirror answered {err.code} for {url}") from None
    except (urllib.error.URLError, OSError) as err:
        raise StepFailed(f"the Debian mirror did not answer ({url}): {err}") from None


def fetch_packages(base: str, archive: str, suite: str, arch: str) -> bytes:
    """One suite's Packages index for `arch`, decompressed (the first compression the mirror has)."""
    stem = f"{base}/{archive}/dists/{suite}/main/binary-{arch}/Packages"
    for suffix, decompress in _COMPRESSIONS:
        data = _fetch(stem + suffix)
        if data is not None:
            try:
                return decompress(data)
            except (lzma.LZMAError, OSError, EOFError) as err:
                raise StepFailed(f"cannot read {stem}{suffix}: {err}") from None
    raise StepFailed(f"the Debian mirror has no {stem}(.xz|.gz|.bz2)")


def parse_packages(data: bytes, suite: str, into: dict[str, Available]) -> None:
    """Keep the newest version of each name:arch seen so far (arch 'all' is listed under each arch)."""
    from debian.deb822 import Packages as PackagesIndex  # python-debian loads in 0.1 s: only when asked
    from debian.debian_support import Version

    for paragraph in PackagesIndex.iter_paragraphs(data.decode("utf-8", "replace").splitlines(keepends=True),
                                                   fields=["Package", "Version", "Architecture"],
                                                   use_apt_pkg=False):
        name, version = paragraph.get("Package"), paragraph.get("Version")
        if not name or not version:
            continue
        key = f"{name}:{paragraph.get('Architecture') or 'all'}"
        known = into.get(key)
        if known is None or Version(str(version)) > Version(known.version):
            into[key] = Available(str(version), suite)
        elif suite == SECURITY_SUITE and str(version) == known.version:
            into[key] = Available(known.version, suite)  # the same version, shipped as a security update


def newest_versions(arches: Iterable[str], base: str | None = None) -> dict[str, Available]:
    """The newest version the mirror serves of every package, over the three suites."""
    base = base or mirror_url()
    index: dict[str, Available] = {}
    for arch in sorted({a for a in arches if a != "all"} or {"amd64"}):
        for archive, suite in SUITES:
            parse_packages(fetch_packages(base, archive, suite, arch), suite, index)
    return index


def newer(locked_version: str, available: Available | None) -> bool:
    from debian.debian_support import Version

    return available is not None and Version(available.version) > Version(locked_version)
