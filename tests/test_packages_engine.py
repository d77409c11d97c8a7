"""Package locks, `doit refresh` against a local Debian mirror, SBOMs and `doit diff`, end to end.

Small stand-ins keep it fast: `os` is a FROM scratch busybox root with a dpkg status file listing
two packages (the inventory Calvin reads is that file, as in a Debian image); `base` "installs"
curl by appending to the status file — from its packages.lock when it has one, exactly the locked
versions — and `app` builds on `base`, `other` on `os`. The mirror is a directory of Packages files
served on 127.0.0.1 for this test (CALVIN_DEBIAN_MIRROR), with bookworm, -updates and -security.
"""
from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path
from typing import Iterator

import pytest

from helpers import child_resource, make_project, ran, root_resource, run_doit

pytestmark = pytest.mark.engine

STATUS = """Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u7

"""
INSTALL = r"""#!/bin/sh
# the stand-in for apt-get install: the lock's versions when there is a lock, else the wanted ones
set -eu
status=/var/lib/dpkg/status
src=/tmp/lock/wanted
[ -s /tmp/lock/packages.lock ] && src=/tmp/lock/packages.lock  # Calvin's stand-in before a lock is empty
grep -v '^#' "$src" | while IFS="$(printf '\t')" read -r name version arch source; do
    grep -q "^Package: $name\$" "$status" && continue
    printf 'Package: %s\nStatus: install ok installed\nArchitecture: %s\nSource: %s\nVersion: %s\n\n' \
        "$name" "$arch" "$source" "$version" >> "$status"
done
rm -rf /tmp/lock
"""
CURL = "7.88.1-10+deb12u5"
CURL_FIXED = "7.88.1-10+deb12u14"


def project_files() -> dict[str, str | Path]:
    files: dict[str, str | Path] = {}
    files.update(root_resource("os", extra="COPY status /var/lib/dpkg/status\n"))
    files["resources/os/status"] = STATUS
    files.update(child_resource("base", "os", group="base",
                                extra="COPY install.sh wanted packages.loc[k] /tmp/lock/\nRUN sh /tmp/lock/install.sh\n"))
    files["resources/base/install.sh"] = INSTALL
    files["resources/base/wanted"] = f"curl\t{CURL}\tamd64\tcurl\n"
    files.update(child_resource("app", "base"))
    files.update(child_resource("other", "os"))
    return files


def packages_index(*packages: tuple[str, str]) -> str:
    return "".join(f"Package: {name}\nVersion: {version}\nArchitecture: amd64\nFilename: pool/{name}.deb\n\n"
                   for name, version in packages)


class Mirror:
    """A directory of Debian indices served on 127.0.0.1 for the length of one test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = functools.partial(_Quiet, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(self, main: str, updates: str = "", security: str = "") -> None:
        for archive, suite, text in (("debian", "bookworm", main), ("debian", "bookworm-updates", updates),
                                     ("debian-security", "bookworm-security", security)):
            folder = self.root / archive / "dists" / suite / "main" / "binary-amd64"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "Packages").write_text(text)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    server = Mirror(tmp_path / "mirror")
    try:
        yield server
    finally:
        server.stop()


def lock_lines(project: Path, name: str) -> list[str]:
    text = (project / "resources" / name / "packages.lock").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def versions(project: Path) -> dict[str, str]:
    found = {}
    for name in ("os", "base", "app", "other"):
        line = next(l for l in (project / "resources" / name / "resource.yaml").read_text().splitlines()
                    if l.startswith("version:"))
        found[name] = line.split(":", 1)[1].strip()
    return found


def test_locks_refresh_sbom_and_diff(tmp_path: Path, namespace: str, mirror: Mirror) -> None:
    project = make_project(tmp_path / "project", project_files())
    env = {"CALVIN_DEBIAN_MIRROR": mirror.url}

    # 1. first builds write each lock from the image, and say so; each is built again from its lock
    first = run_doit(project, "build:app", "build:other", namespace=namespace, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "wrote resources/base/packages.lock (3 packages" in first.stdout
    assert "building base again from its new packages.lock" in first.stdout
    assert "package set matches packages.lock (3 packages)" in first.stdout
    assert lock_lines(project, "base") == ["base-files\t12.4+deb12u5\tamd64\tbase-files", f"curl\t{CURL}\tamd64\tcurl",
                                           "libc6\t2.36-9+deb12u7\tamd64\tglibc"]
    assert lock_lines(project, "os") == [lock_lines(project, "base")[0], lock_lines(project, "base")[2]]

    # 2. the images built from the locks are current: the release run builds nothing, writes SBOMs
    released = run_doit(project, namespace=namespace, env=env)
    assert released.returncode == 0, released.stdout + released.stderr
    assert ran(released, "build") == [] and ran(released, "release") == ["app", "base", "os", "other"]
    sbom = json.loads((project / "out/releases/sbom/base/1.0.0.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    purls = sorted(c["purl"] for c in sbom["components"])
    assert purls[1] == f"pkg:deb/debian/curl@{CURL.replace('+', '%2B')}?arch=amd64"
    manifest = json.loads((project / "out/releases/latest.json").read_text())
    counts = {e["resource"]: e["packages"]["packages"] for e in manifest["resources"]}
    assert counts == {"os": 2, "base": 3, "app": 3, "other": 2}

    # 3. the mirror serves exactly the locked versions: refresh changes nothing, doit builds nothing
    mirror.publish(packages_index(("base-files", "12.4+deb12u5"), ("libc6", "2.36-9+deb12u7"), ("curl", CURL)))
    locks_before = {n: lock_lines(project, n) for n in ("os", "base", "app", "other")}
    unchanged = run_doit(project, "refresh", "--apply", namespace=namespace, env=env)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert "0 pending update(s), 0 security" in unchanged.stdout
    assert "every lock is current: nothing to change" in unchanged.stdout
    assert {n: lock_lines(project, n) for n in locks_before} == locks_before
    assert versions(project) == {"os": "1.0.0", "base": "1.0.0", "app": "1.0.0", "other": "1.0.0"}
    nothing = run_doit(project, namespace=namespace, env=env)
    assert nothing.returncode == 0 and ran(nothing, "build") == [], nothing.stdout

    # 4. a security update of curl: the table names it; --apply rewrites base's and app's locks and
    #    bumps exactly base and its descendant
    mirror.publish(packages_index(("base-files", "12.4+deb12u5"), ("libc6", "2.36-9+deb12u7"), ("curl", CURL)),
                   security=packages_index(("curl", CURL_FIXED)))
    table = run_doit(project, "refresh", namespace=namespace, env=env)
    assert table.returncode == 0, table.stdout + table.stderr
    row = next(line for line in table.stdout.splitlines() if "curl:amd64" in line)
    assert row.split()[:2] == ["base", "curl:amd64"] and CURL_FIXED in row and row.rstrip().endswith("security")
    assert "1 pending update(s), 1 security, in 2 resource lock(s)" in table.stdout
    assert versions(project)["base"] == "1.0.0"  # without --apply nothing changes
    applied = run_doit(project, "refresh", "--apply", namespace=namespace, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert versions(project) == {"os": "1.0.0", "base": "1.0.1", "app": "1.0.1", "other": "1.0.0"}
    assert f"curl\t{CURL_FIXED}\tamd64\tcurl" in lock_lines(project, "app")

    # 5. the next run rebuilds exactly those, once each, installing the locked version; then nothing
    rebuilt = run_doit(project, namespace=namespace, env=env)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert ran(rebuilt, "build") == ["app", "base"]
    assert ran(rebuilt, "release") == ["app", "base"]
    again = run_doit(project, namespace=namespace, env=env)
    assert again.returncode == 0 and ran(again, "build") == [], again.stdout

    # 6. the diff names the package, from the SBOMs; the manifest's release notes too
    changes = run_doit(project, "diff", "base", namespace=namespace, env=env)
    assert changes.returncode == 0, changes.stdout + changes.stderr
    assert "base 1.0.0 → 1.0.1: 0 added, 0 removed, 1 changed" in changes.stdout
    assert f"~ curl:amd64 {CURL} → {CURL_FIXED}" in changes.stdout
    notes = {e["resource"]: e["packages"] for e in json.loads((project / "out/releases/latest.json").read_text())["resources"]}
    assert notes["app"]["changes_since"] == {"version": "1.0.0", "added": [], "removed": [],
                                             "changed": [f"curl:amd64@{CURL}→{CURL_FIXED}"]}


def test_an_image_that_differs_from_its_lock_fails_its_build(tmp_path: Path, namespace: str) -> None:
    files = project_files()
    files["resources/os/packages.lock"] = ("libc6\t2.36-9+deb12u3\tamd64\tglibc\n"
                                           "zlib1g\t1:1.2.13.dfsg-1\tamd64\tzlib\n")
    project = make_project(tmp_path / "project", files)
    result = run_doit(project, "build:os", namespace=namespace)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "the image of os differs from resources/os/packages.lock in 3 package(s)" in output
    assert "base-files:amd64 12.4+deb12u5 is in the image, not in the lock" in output
    assert "libc6:amd64 is 2.36-9+deb12u7 in the image, 2.36-9+deb12u3 in the lock" in output
    assert "zlib1g:amd64 1:1.2.13.dfsg-1 is locked, not in the image" in output
    assert "run doit refresh" in output
    again = run_doit(project, "build:os", namespace=namespace)  # the failed image is not trusted
    assert ".  build:os" in again.stdout and again.returncode != 0


def test_the_sbom_is_pushed_next_to_the_image_with_the_registry_login(tmp_path: Path, namespace: str) -> None:
    import base64
    import urllib.request

    from helpers import Credentials, registry_installed, start_registry

    if not registry_installed():
        pytest.skip("docker-registry (Debian's Docker Distribution) is not installed: `make registry`")
    login = Credentials("calvin", "sbom-test-password")
    server = start_registry(tmp_path / "registry", credentials=login)
    try:
        token = base64.b64encode(b"calvin:sbom-test-password").decode()
        docker = tmp_path / "docker"
        docker.mkdir()
        (docker / "config.json").write_text(json.dumps({"auths": {server.address: {"auth": token}}}))
        files = {**root_resource("os", extra="COPY status /var/lib/dpkg/status\n"), "resources/os/status": STATUS}
        project = make_project(tmp_path / "project", files)
        env = {"CALVIN_REGISTRY": server.address, "DOCKER_CONFIG": str(docker)}
        assert run_doit(project, "build:os", namespace=namespace, env=env).returncode == 0  # writes the lock
        result = run_doit(project, namespace=namespace, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        entry = json.loads((project / "out/releases/latest.json").read_text())["resources"][0]
        assert entry["packages"]["packages"] == 2
        tag = "sbom-" + entry["fingerprint"][:24]
        assert f"SBOM pushed as {server.address}/{namespace}/os:{tag}" in result.stdout

        def get(path: str, accept: str = "") -> bytes:
            request = urllib.request.Request(f"{server.url}/v2/{namespace}/os/{path}",
                                             headers={"Authorization": f"Basic {token}", "Accept": accept})
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the test's registry
                return bytes(answer.read())

        manifest = json.loads(get(f"manifests/{tag}", "application/vnd.oci.image.manifest.v1+json"))
        layer = manifest["layers"][0]
        assert layer["mediaType"] == "application/vnd.cyclonedx+json"
        assert layer["digest"] == entry["packages"]["sbom_digest"]
        pushed = json.loads(get(f"blobs/{layer['digest']}"))
        assert pushed["metadata"]["component"]["name"] == "os" and len(pushed["components"]) == 2
    finally:
        server.stop()

