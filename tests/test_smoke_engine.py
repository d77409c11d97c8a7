"""Smoke tests against a real engine: every check kind passing and failing on tiny images,
the isolation of test containers, blocking of children, re-runs, and bounded waits.

Each test makes a fresh project under tmp_path and runs `doit` in it as a user does.
"""
from __future__ import annotations

import os

import json
import re
import secrets
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

from helpers import child_resource, make_project, ran, remove_namespace, root_resource, run_doit, write

pytestmark = pytest.mark.engine

CHECK_LINE = re.compile(r"^(?P<resource>[a-z0-9.-]+) · (?P<name>.+?) \.{3,} (?P<status>passed|FAILED) "
                        r"\(\d+\.\d s\)$")
WWW = "<html><body>hello from calvin</body></html>\n"
STAMP = "test.calvin.run"
HTTPD = 'COPY www /www\nEXPOSE 8080\nCMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]\n'


@pytest.fixture
def namespace(docker_client: Any) -> Iterator[str]:
    """conftest's `namespace`, but pruning only this test's own dangling images (by their label),
    and tolerant of another session pruning at the same moment (409 "already running")."""
    import docker.errors

    name = f"calvin-test-{secrets.token_hex(4)}"
    yield name
    remove_namespace(docker_client, name)
    for _ in range(20):
        try:
            docker_client.images.prune(filters={"dangling": True, "label": f"{STAMP}={name}"})
            return
        except docker.errors.APIError as err:
            if "already running" not in str(err):
                raise
            time.sleep(0.5)


# -- helpers ------------------------------------------------------------------------------------

def yaml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def project_with(tmp_path: Path, namespace: str, files: Mapping[str, str | bytes | Path], *,
                 smoke: str = "") -> Path:
    """A project whose root images start with a label naming this test's namespace: they share no
    build-cache layer with other test sessions on the same engine (whose cleanup prunes dangling
    images while we build), and this test's own leftovers can be pruned by that label."""
    stamped = {path: (content.replace("FROM scratch\n", f"FROM scratch\nLABEL {STAMP}={namespace}\n", 1)
                      if path.endswith("/Dockerfile") and isinstance(content, str) else content)
               for path, content in files.items()}
    pipeline = "namespace: calvin\n" + smoke
    return make_project(tmp_path / "project", stamped, pipeline=pipeline)


def web_resource(name: str, tests: str) -> dict[str, str | Path]:
    """A busybox root serving /www with httpd on 8080 as its own command."""
    files: dict[str, str | Path] = dict(root_resource(name, extra=HTTPD))
    files[f"resources/{name}/www/index.html"] = WWW
    files[f"resources/{name}/tests.yaml"] = yaml(tests)
    return files


def shell_less_resource(name: str, tests: str, *, extra: str = "") -> dict[str, str | Path]:
    """An image with no shell at all: FROM scratch and a few copied files."""
    return {
        f"resources/{name}/resource.yaml": f"description: {name}, no shell\ngroup: base\nversion: 1.0.0\n",
        f"resources/{name}/Dockerfile": 'FROM scratch\nCOPY motd.txt /x\n'
                                        'COPY --chown=1000:1000 owned.txt /home/owned.txt\n'
                                        'COPY tree/ /tree/\nCMD ["/x"]\n' + extra,
        f"resources/{name}/motd.txt": "Welcome to Calvin\nversion 1\n",
        f"resources/{name}/owned.txt": "mine\n",
        f"resources/{name}/tree/data.txt": "data inside the tree\n",
        f"resources/{name}/tree/run.sh": "#!/bin/sh\necho run\n",
        f"resources/{name}/tests.yaml": yaml(tests),
    }


def make_shell_less(project: Path, name: str) -> None:
    (project / f"resources/{name}/tree/run.sh").chmod(0o755)
    (project / f"resources/{name}/tree/link").symlink_to("data.txt")


def check_lines(result: Any, resource: str) -> dict[str, str]:
    """{check name: passed|FAILED} from the `<resource> · <check> .... status` lines, which must align."""
    found: dict[str, str] = {}
    columns = set()
    for line in result.stdout.splitlines():
        match = CHECK_LINE.match(line)
        if match and match["resource"] == resource:
            found[match["name"]] = match["status"]
            columns.add(match.start("status"))
    assert len(columns) <= 1, f"status column not aligned: {sorted(columns)}\n{result.stdout}"
    return found


def assert_lines(result: Any, resource: str, expected: Mapping[str, str]) -> None:
    found = check_lines(result, resource)
    assert found == dict(expected), f"{found} != {dict(expected)}\n{result.stdout}\n{result.stderr}"


def reports(project: Path, name: str, expected: Mapping[str, bool]) -> dict[str, dict[str, Any]]:
    """Check the JSON and JUnit reports of `name` against {check: passed}; the JSON checks by name."""
    folder = project / "out" / "reports"
    data = json.loads((folder / f"{name}.json").read_text())
    failed = [check for check, ok in expected.items() if not ok]
    assert data["resource"] == name
    assert data["image"].startswith("sha256:")
    assert re.fullmatch(r"[0-9a-f]{64}", data["build_fingerprint"])
    assert re.fullmatch(r"[0-9a-f]{64}", data["test_fingerprint"])
    assert data["passed"] is (not failed)
    assert data["counts"] == {"checks": len(expected), "failed": len(failed)}
    checks = {check["name"]: check for check in data["checks"]}
    assert {check: c["passed"] for check, c in checks.items()} == dict(expected)
    for check in checks.values():
        assert check["resource"] == name
        assert check["passed"] or check["message"], check

    root = ET.parse(folder / f"{name}.junit.xml").getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == f"calvin.{name}"
    assert suite.get("tests") == str(len(expected))
    assert suite.get("failures") == str(len(failed))
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == set(expected)
    for check, ok in expected.items():
        assert cases[check].get("classname") == f"{name}.{checks[check]['kind']}"
        failure = cases[check].find("failure")
        if ok:
            assert failure is None, check
        else:
            assert failure is not None, check
            assert failure.get("message") == checks[check]["message"]
    return checks


def assert_no_containers(docker_client: Any, namespace: str) -> None:
    left = docker_client.containers.list(all=True, filters={"label": f"calvin.namespace={namespace}"})
    assert left == [], f"containers left behind: {[c.name for c in left]}"


# The engine is shared with other test sessions whose cleanup prunes every dangling image; one
# that lands mid-build deletes the build's newest intermediate layer. That is no Calvin failure:
# such a build is run again (the next run carries on), anything else counts.
PRUNED_UNDER_US = re.compile(r"FAILED build:\S+: build failed: .*(unknown parent image ID|No such image|"
                             r"failed to get digest)")


def doit(project: Path, docker_client: Any, namespace: str, *args: str) -> Any:
    """Run doit and check that no test container of this namespace survives the run."""
    result = run_doit(project, *args, namespace=namespace)
    for _ in range(2):
        if not PRUNED_UNDER_US.search(result.stdout):
            break
        result = run_doit(project, *args, namespace=namespace)
    assert "Traceback (most recent call last)" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert_no_containers(docker_client, namespace)
    return result


def image_of(docker_client: Any, repository: str) -> str:
    """The id of the image tagged in `repository` (one listing: no per-image inspect that another
    session's cleanup could race)."""
    (image,) = docker_client.api.images(name=repository)
    return str(image["Id"])


def summary_failure(result: Any, task: str) -> str:
    """The summary's `FAILED  <task>: message` line."""
    lines = [line for line in result.stdout.splitlines() if line.startswith(f"  FAILED  {task}: ")]
    assert lines, result.stdout
    return lines[-1]


# -- command checks -----------------------------------------------------------------------------

COMMANDS_PASS = """
commands:
  - name: exit zero
    run: ["true"]
  - name: expected exit three
    run: [sh, -c, "exit 3"]
    exit_code: 3
  - name: stdout regex
    run: [sh, -c, "echo hello; echo world"]
    stdout: "^world$"
    stdout_excludes: "error"
  - name: stderr regex
    run: [sh, -c, "echo warn-42 >&2"]
    stderr: "warn-\\\\d+"
    stderr_excludes: "fatal"
    stdout_excludes: "warn"
  - name: env given
    run: [sh, -c, 'echo "$CALVIN_X-$FLAG-$N"']
    env: {CALVIN_X: abc, FLAG: true, N: 7}
    stdout: "^abc-true-7$"
  - name: runs as user
    run: [id, -u]
    user: "1000"
    stdout: "^1000$"
"""

COMMANDS_FAIL = """
commands:
  - name: wrong exit
    run: [sh, -c, "exit 3"]
  - name: stdout differs
    run: [echo, hello]
    stdout: "^bye$"
  - name: stderr differs
    run: [sh, -c, "echo oops >&2"]
    stderr: "^fine$"
  - name: stdout has error
    run: [echo, "error: disk full"]
    stdout_excludes: "error"
  - name: stderr has fatal
    run: [sh, -c, "echo fatal thing >&2"]
    stderr_excludes: "fatal"
  - name: env not given
    run: [sh, -c, 'echo "[$CALVIN_X]"']
    stdout: "^\\\\[abc\\\\]$"
  - name: wrong user
    run: [id, -u]
    user: "1000"
    stdout: "^0$"
  - name: no such program
    run: [/no/such/program]
"""


def test_command_checks_pass(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    files = dict(root_resource("cmd"))
    files["resources/cmd/tests.yaml"] = yaml(COMMANDS_PASS)
    project = project_with(tmp_path, namespace, files)

    result = doit(project, docker_client, namespace)

    assert result.returncode == 0, result.stdout + result.stderr
    names = ["exit zero", "expected exit three", "stdout regex", "stderr regex", "env given", "runs as user"]
    assert_lines(result, "cmd", {name: "passed" for name in names})
    checks = reports(project, "cmd", {name: True for name in names})
    assert checks["stdout regex"]["kind"] == "command"
    assert re.search(r"^calvin: built 1, tested 1, released 1; 0 up to date, 0 failed, 0 not run in ", result.stdout, re.MULTILINE)


def test_command_checks_fail(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    files = dict(root_resource("cmd"))
    files["resources/cmd/tests.yaml"] = yaml(COMMANDS_FAIL)
    project = project_with(tmp_path, namespace, files)

    result = doit(project, docker_client, namespace)

    assert result.returncode != 0
    names = ["wrong exit", "stdout differs", "stderr differs", "stdout has error", "stderr has fatal",
             "env not given", "wrong user", "no such program"]
    assert_lines(result, "cmd", {name: "FAILED" for name in names})
    checks = reports(project, "cmd", {name: False for name in names})
    messages = {name: check["message"] for name, check in checks.items()}
    assert messages["wrong exit"] == "exit code 3, expected 0"
    assert messages["stdout differs"] == "stdout does not match /^bye$/: 'hello'"
    assert messages["stderr differs"] == "stderr does not match /^fine$/: 'oops'"
    assert messages["stdout has error"] == "stdout matches /error/: 'error: disk full'"
    assert messages["stderr has fatal"] == "stderr matches /fatal/: 'fatal thing'"
    assert messages["env not given"] == r"stdout does not match /^\[abc\]$/: '[]'"
    assert messages["wrong user"] == "stdout does not match /^0$/: '1000'"
    assert messages["no such program"].startswith("the Docker engine refused ")
    assert "/no/such/program" in messages["no such program"]
    # the reason is printed under the check's line, and the summary names the failures
    assert "    exit code 3, expected 0" in result.stdout.splitlines()
    summary = summary_failure(result, "test:cmd")
    assert "8 of 8 smoke checks failed" in summary
    assert "wrong exit: exit code 3, expected 0" in summary
    assert "report: out/reports/cmd.json" in summary
    assert not (project / "out" / "state" / "tests" / f"{namespace}--cmd.json").exists()


# -- file checks, on an image with no shell at all -----------------------------------------------

FILES_PASS = """
files:
  - name: motd is a file
    path: /x
    exists: true
    type: file
    mode: "0644"
    owner: "0:0"
    contains: "^Welcome to Calvin$"
    excludes: "password"
  - name: owned by 1000
    path: /home/owned.txt
    owner: "1000:1000"
  - name: tree is a directory
    path: /tree
    type: directory
  - name: script is executable
    path: /tree/run.sh
    mode: "0755"
  - name: link is a symlink
    path: /tree/link
    type: symlink
  - name: link is followed
    path: /tree/link
    type: file
    contains: "data inside"
  - name: no shadow
    path: /etc/shadow
    exists: false
  - name: no shell
    path: /bin/sh
    exists: false
"""

FILES_FAIL = """
files:
  - name: missing file
    path: /missing
  - name: present file
    path: /x
    exists: false
  - name: not a directory
    path: /x
    type: directory
  - name: wrong mode
    path: /x
    mode: "0755"
  - name: wrong owner
    path: /x
    owner: "1000"
  - name: content missing
    path: /x
    contains: "^Goodbye"
  - name: content excluded
    path: /x
    excludes: "Calvin"
"""


def test_file_checks_pass_without_a_shell(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = project_with(tmp_path, namespace, shell_less_resource("plain", FILES_PASS))
    make_shell_less(project, "plain")

    result = doit(project, docker_client, namespace)

    assert result.returncode == 0, result.stdout + result.stderr
    names = ["motd is a file", "owned by 1000", "tree is a directory", "script is executable",
             "link is a symlink", "link is followed", "no shadow", "no shell"]
    assert_lines(result, "plain", {name: "passed" for name in names})
    checks = reports(project, "plain", {name: True for name in names})
    assert {check["kind"] for check in checks.values()} == {"file"}


def test_file_checks_fail_without_a_shell(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = project_with(tmp_path, namespace, shell_less_resource("plain", FILES_FAIL))
    make_shell_less(project, "plain")

    result = doit(project, docker_client, namespace)

    assert result.returncode != 0
    names = ["missing file", "present file", "not a directory", "wrong mode", "wrong owner", "content missing",
             "content excluded"]
    assert_lines(result, "plain", {name: "FAILED" for name in names})
    messages = {name: c["message"] for name, c in reports(project, "plain", dict.fromkeys(names, False)).items()}
    assert messages == {
        "missing file": "/missing does not exist",
        "present file": "/x exists, expected it absent",
        "not a directory": "/x: is a file, expected a directory",
        "wrong mode": "/x: mode 0644, expected 0755",
        "wrong owner": "/x: owner 0:0, expected 1000",
        "content missing": "/x: content does not match /^Goodbye/",
        "content excluded": "/x: content matches /Calvin/",
    }
    assert "7 of 7 smoke checks failed" in summary_failure(result, "test:plain")


def test_a_command_check_on_an_image_without_a_shell_fails_cleanly(tmp_path: Path, namespace: str,
                                                                  docker_client: Any) -> None:
    tests = """
    commands:
      - name: needs a shell
        run: [sh, -c, "true"]
    files:
      - path: /x
    """
    project = project_with(tmp_path, namespace, shell_less_resource("plain", tests))
    make_shell_less(project, "plain")

    result = doit(project, docker_client, namespace)

    assert result.returncode != 0
    assert_lines(result, "plain", {"needs a shell": "FAILED", "file /x": "passed"})
    checks = reports(project, "plain", {"needs a shell": False, "file /x": True})
    assert checks["needs a shell"]["message"].startswith("the Docker engine refused ")


# -- metadata checks ----------------------------------------------------------------------------

METADATA_IMAGE = ('ENV LANG=C.UTF-8 PORT=8080\nEXPOSE 8080 9090/udp\nUSER 1000:1000\nWORKDIR /srv\n'
                  'LABEL com.example.team=infra\nENTRYPOINT ["/x"]\nCMD ["--serve"]\n')

METADATA_PASS = """
metadata:
  user: "1000:1000"
  env: {LANG: C.UTF-8, PORT: 8080}
  exposed_ports: ["8080", "9090/udp"]
  entrypoint: ["/x"]
  cmd: ["--serve"]
  workdir: /srv
  labels: {com.example.team: infra}
"""

METADATA_FAIL = """
metadata:
  user: "0"
  env: {LANG: POSIX, MISSING: x}
  exposed_ports: ["443"]
  entrypoint: ["/bin/sh"]
  cmd: null
  workdir: /
  labels: {com.example.team: web}
"""

METADATA_KEYS = ["user", "env", "exposed_ports", "entrypoint", "cmd", "workdir", "labels"]


def test_metadata_checks_pass(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = project_with(tmp_path, namespace, shell_less_resource("meta", METADATA_PASS, extra=METADATA_IMAGE))
    make_shell_less(project, "meta")

    result = doit(project, docker_client, namespace)

    assert result.returncode == 0, result.stdout + result.stderr
    names = [f"metadata {key}" for key in METADATA_KEYS]
    assert_lines(result, "meta", {name: "passed" for name in names})
    checks = reports(project, "meta", dict.fromkeys(names, True))
    assert {check["kind"] for check in checks.values()} == {"metadata"}


def test_metadata_checks_fail(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = project_with(tmp_path, namespace, shell_less_resource("meta", METADATA_FAIL, extra=METADATA_IMAGE))
    make_shell_less(project, "meta")

    result = doit(project, docker_client, namespace)

    assert result.returncode != 0
    names = [f"metadata {key}" for key in METADATA_KEYS]
    assert_lines(result, "meta", {name: "FAILED" for name in names})
    messages = {name: c["message"] for name, c in reports(project, "meta", dict.fromkeys(names, False)).items()}
    assert messages == {
        "metadata user": "user is '1000:1000', expected '0'",
        "metadata env": "LANG='C.UTF-8', expected 'POSIX'; MISSING=None, expected 'x'",
        "metadata exposed_ports": "port 443/tcp is not exposed (exposed: 8080/tcp, 9090/udp)",
        "metadata entrypoint": "entrypoint is ['/x'], expected ['/bin/sh']",
        "metadata cmd": "cmd is ['--serve'], expected None",
        "metadata workdir": "workdir is '/srv', expected '/'",
        "metadata labels": "label com.example.team='infra', expected 'web'",
    }


# -- service checks -----------------------------------------------------------------------------

SERVICES_PASS = """
services:
  - name: web answers
    port: 8080
    http: {path: /index.html, status: 200, body: "hello from calvin"}
    timeout: 20
    requests:
      - {path: /missing.html, status: 404}
      - {path: /, body: "hello", body_excludes: "error"}
    commands:
      - name: inside
        run: [cat, /www/index.html]
        stdout: "hello from calvin"
  - name: tcp listener
    port: 9000
    command: [nc, -ll, -p, "9000", -e, cat]
    timeout: 20
"""

SERVICES_FAIL = """
services:
  - name: exits at once
    port: 8080
    command: [sh, -c, "echo starting-marker; echo bad-config-marker >&2; exit 4"]
    timeout: 20
  - name: checks after ready fail
    port: 8080
    http: {path: /}
    timeout: 20
    requests:
      - {path: /missing.html, status: 200}
    commands:
      - name: inside fails
        run: [cat, /nope]
  - name: body never matches
    port: 8080
    http: {path: /, body: "^never$"}
    timeout: 3
"""


def test_service_checks_pass(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = project_with(tmp_path, namespace, web_resource("web", SERVICES_PASS))

    result = doit(project, docker_client, namespace)

    assert result.returncode == 0, result.stdout + result.stderr
    assert_lines(result, "web", {"web answers": "passed", "tcp listener": "passed"})
    checks = reports(project, "web", {"web answers": True, "tcp listener": True})
    assert {check["kind"] for check in checks.values()} == {"service"}


def test_service_checks_fail_with_the_container_log(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = project_with(tmp_path, namespace, web_resource("web", SERVICES_FAIL))

    result = doit(project, docker_client, namespace)

    assert result.returncode != 0
    names = ["exits at once", "checks after ready fail", "body never matches"]
    assert_lines(result, "web", dict.fromkeys(names, "FAILED"))
    checks = reports(project, "web", dict.fromkeys(names, False))
    exited = checks["exits at once"]
    assert exited["message"] == "the service exited with status 4 before answering on port 8080"
    assert "starting-marker" in exited["log"] and "bad-config-marker" in exited["log"]
    lines = result.stdout.splitlines()
    assert "    | starting-marker" in lines and "    | bad-config-marker" in lines
    after = checks["checks after ready fail"]["message"]
    assert after == "GET /missing.html: status 404, expected 200; inside fails: exit code 1, expected 0"
    never = checks["body never matches"]["message"]
    assert never.startswith("not ready within 3 s on port 8080: GET /: body does not match /^never$/")
    # the JUnit failure carries the container's log
    suite = ET.parse(project / "out" / "reports" / "web.junit.xml").getroot().find("testsuite")
    assert suite is not None
    case = next(c for c in suite.findall("testcase") if c.get("name") == "exits at once")
    failure = case.find("failure")
    assert failure is not None and "bad-config-marker" in (failure.text or "")


# -- pytest checks ------------------------------------------------------------------------------

PYTEST_PASS = '''
import time
import urllib.request


def test_the_image_is_an_id(calvin_image):
    assert calvin_image.startswith("sha256:")


def test_the_service_answers(calvin_container):
    service = calvin_container(port=8080)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(service.url + "/index.html", timeout=2) as response:
                body = response.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert "hello from calvin" in body
    assert "hello from calvin" in service.exec(["cat", "/www/index.html"]).stdout
'''

PYTEST_FAIL = '''
def test_the_image_is_an_id(calvin_image):
    assert calvin_image.startswith("sha256:")


def test_wrong_content(calvin_container):
    service = calvin_container(port=8080)
    assert service.exec(["cat", "/www/index.html"]).stdout == "goodbye-marker"
'''


def pytest_project(tmp_path: Path, namespace: str, test_file: str) -> Path:
    files = web_resource("web", "files:\n  - path: /www/index.html\n")
    files["resources/web/test_smoke.py"] = textwrap.dedent(test_file)
    return project_with(tmp_path, namespace, files)


def test_pytest_check_passes(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = pytest_project(tmp_path, namespace, PYTEST_PASS)

    result = doit(project, docker_client, namespace)

    assert result.returncode == 0, result.stdout + result.stderr
    assert_lines(result, "web", {"file /www/index.html": "passed", "pytest test_smoke.py": "passed"})
    checks = reports(project, "web", {"file /www/index.html": True, "pytest test_smoke.py": True})
    assert checks["pytest test_smoke.py"]["kind"] == "pytest"
    assert "2 passed" in checks["pytest test_smoke.py"]["log"]


def test_pytest_check_fails(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    project = pytest_project(tmp_path, namespace, PYTEST_FAIL)

    result = doit(project, docker_client, namespace)

    assert result.returncode != 0
    assert_lines(result, "web", {"file /www/index.html": "passed", "pytest test_smoke.py": "FAILED"})
    checks = reports(project, "web", {"file /www/index.html": True, "pytest test_smoke.py": False})
    failed = checks["pytest test_smoke.py"]
    assert re.search(r"1 failed, 1 passed", failed["message"]), failed["message"]
    assert "goodbye-marker" in failed["log"]
    assert "test_wrong_content" in result.stdout


# -- isolation: network and limits --------------------------------------------------------------

ISOLATION = """
commands:
  - name: no network
    run: [cat, /proc/net/dev]
    stdout: "lo:"
    stdout_excludes: "eth0"
  - name: pids limited
    run: [cat, /sys/fs/cgroup/pids/pids.max]
    stdout: "^100$"
  - name: memory limited
    run: [cat, /sys/fs/cgroup/memory/memory.limit_in_bytes]
    stdout: "^67108864$"
services:
  - name: service limited
    port: 8080
    timeout: 20
    commands:
      - name: pids
        run: [cat, /sys/fs/cgroup/pids/pids.max]
        stdout: "^100$"
      - name: memory
        run: [cat, /sys/fs/cgroup/memory/memory.limit_in_bytes]
        stdout: "^67108864$"
"""

NETWORK = """
commands:
  - name: no network
    run: [cat, /proc/net/dev]
    stdout_excludes: "eth0"
  - name: network when asked
    run: [cat, /proc/net/dev]
    network: true
    stdout: "eth0"
"""


def test_containers_have_no_network_and_are_limited(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    if str(docker_client.info().get("CgroupVersion", "1")) != "1":
        pytest.skip("the limit checks read cgroup v1 files; this engine uses cgroup v2")
    project = project_with(tmp_path, namespace, web_resource("iso", ISOLATION), smoke="smoke: {memory: 64m, pids: 100}\n")

    result = doit(project, docker_client, namespace)

    assert result.returncode == 0, result.stdout + result.stderr
    names = ["no network", "pids limited", "memory limited", "service limited"]
    assert_lines(result, "iso", dict.fromkeys(names, "passed"))
    reports(project, "iso", dict.fromkeys(names, True))


def test_a_check_gets_a_network_when_it_asks(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    import docker.errors

    files = dict(root_resource("net"))
    files["resources/net/tests.yaml"] = yaml(NETWORK)
    project = project_with(tmp_path, namespace, files)
    assert doit(project, docker_client, namespace, "build").returncode == 0
    image = image_of(docker_client, f"{namespace}/net")
    try:  # the engine itself must be able to attach a container to its default network
        docker_client.containers.run(image, ["true"], remove=True, labels={"calvin.namespace": namespace})
    except docker.errors.APIError as err:
        reason = f"this engine cannot attach containers to its default network: {err.explanation}"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI starts the engine itself (make engine): there it must work
        pytest.skip(reason)

    result = doit(project, docker_client, namespace)

    assert result.returncode == 0, result.stdout + result.stderr
    assert_lines(result, "net", {"no network": "passed", "network when asked": "passed"})
    reports(project, "net", {"no network": True, "network when asked": True})


# -- a failed parent blocks its children, not its cousins ---------------------------------------

def test_a_failed_parent_blocks_its_child_but_not_a_sibling_branch(tmp_path: Path, namespace: str,
                                                                   docker_client: Any) -> None:
    passing = "commands:\n  - name: works\n    run: [cat, /note.txt]\n"
    files: dict[str, str | Path] = {
        **root_resource("base"),
        "resources/base/tests.yaml": "commands:\n  - name: always fails\n    run: [sh, -c, \"exit 1\"]\n",
        **child_resource("app", "base"),
        "resources/app/tests.yaml": passing,
        **root_resource("other"),
        "resources/other/tests.yaml": "commands:\n  - name: works\n    run: [\"true\"]\n",
        **child_resource("other-app", "other"),
        "resources/other-app/tests.yaml": passing,
    }
    project = project_with(tmp_path, namespace, files)

    result = doit(project, docker_client, namespace)

    assert result.returncode != 0
    assert ran(result, "build") == ["base", "other", "other-app"]
    assert ran(result, "test") == ["base", "other", "other-app"]
    assert_lines(result, "base", {"always fails": "FAILED"})
    assert_lines(result, "other-app", {"works": "passed"})
    summary = summary_failure(result, "test:base")
    assert "1 of 1 smoke checks failed (always fails: exit code 1, expected 0)" in summary
    assert re.search(r"not run because a step they need failed: .*build:app", result.stdout), result.stdout
    assert not (project / "out" / "reports" / "app.json").exists()
    reports(project, "other-app", {"works": True})
    assert docker_client.api.images(name=f"{namespace}/app") == []
    assert docker_client.api.images(name=f"{namespace}/other-app") != []

    again = doit(project, docker_client, namespace)

    assert again.returncode != 0
    assert ran(again, "build") == []
    assert ran(again, "test") == ["base"], "a failed test is tried again on the next run"
    assert "build:app" in again.stdout and ran(again, "build") == []


# -- what re-runs -------------------------------------------------------------------------------

def test_editing_tests_reruns_the_test_and_does_not_rebuild(tmp_path: Path, namespace: str,
                                                             docker_client: Any) -> None:
    files = dict(root_resource("box"))
    files["resources/box/tests.yaml"] = "commands:\n  - name: echo\n    run: [echo, hi]\n    stdout: hi\n"
    project = project_with(tmp_path, namespace, files)

    first = doit(project, docker_client, namespace)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (ran(first, "build"), ran(first, "test")) == (["box"], ["box"])

    unchanged = doit(project, docker_client, namespace)
    assert unchanged.returncode == 0
    assert (ran(unchanged, "build"), ran(unchanged, "test")) == ([], [])
    assert "-- test:box (up to date: passed these tests" in unchanged.stdout
    assert_lines(unchanged, "box", {})

    write(project / "resources/box/tests.yaml", "commands:\n  - name: echo\n    run: [echo, hi]\n    stdout: hi\n"
                                                "  - name: echo again\n    run: [echo, bye]\n    stdout: bye\n")
    edited = doit(project, docker_client, namespace)
    assert edited.returncode == 0, edited.stdout
    assert ran(edited, "build") == []
    assert ran(edited, "test") == ["box"]
    assert_lines(edited, "box", {"echo": "passed", "echo again": "passed"})
    reports(project, "box", {"echo": True, "echo again": True})

    write(project / "resources/box/test_extra.py", "def test_image(calvin_image):\n    assert calvin_image\n")
    added = doit(project, docker_client, namespace)
    assert added.returncode == 0, added.stdout
    assert (ran(added, "build"), ran(added, "test")) == ([], ["box"])

    (project / ".doit.sqlite3").unlink()
    forgotten = doit(project, docker_client, namespace)
    assert forgotten.returncode == 0, forgotten.stdout
    assert (ran(forgotten, "build"), ran(forgotten, "test")) == ([], [])


# -- bounded waits ------------------------------------------------------------------------------

def timed_doit(project: Path, docker_client: Any, namespace: str) -> tuple[Any, float]:
    started = time.monotonic()
    result = doit(project, docker_client, namespace)
    return result, time.monotonic() - started


def test_a_service_that_never_listens_fails_within_its_timeout(tmp_path: Path, namespace: str,
                                                               docker_client: Any) -> None:
    tests = """
    services:
      - name: never listens
        port: 8080
        command: [sleep, "1000"]
        timeout: 3
    """
    project = project_with(tmp_path, namespace, web_resource("slow", tests))
    doit(project, docker_client, namespace, "build")  # the build's time is not the check's

    result, seconds = timed_doit(project, docker_client, namespace)

    assert result.returncode != 0
    assert seconds < 3 + 20, f"the run took {seconds:.1f} s"
    assert_lines(result, "slow", {"never listens": "FAILED"})
    checks = reports(project, "slow", {"never listens": False})
    assert checks["never listens"]["message"].startswith("not ready within 3 s on port 8080")
    assert checks["never listens"]["seconds"] < 3 + 10


def test_a_command_that_hangs_is_killed(tmp_path: Path, namespace: str, docker_client: Any) -> None:
    tests = """
    commands:
      - name: hangs
        run: [sleep, "1000"]
        timeout: 2
    """
    files = dict(root_resource("slow"))
    files["resources/slow/tests.yaml"] = yaml(tests)
    project = project_with(tmp_path, namespace, files)
    doit(project, docker_client, namespace, "build")

    result, seconds = timed_doit(project, docker_client, namespace)

    assert result.returncode != 0
    assert seconds < 2 + 20, f"the run took {seconds:.1f} s"
    assert_lines(result, "slow", {"hangs": "FAILED"})
    checks = reports(project, "slow", {"hangs": False})
    assert checks["hangs"]["message"] == "timed out after 2 s (the container was killed)"
    assert "timed out" in summary_failure(result, "test:slow")


def test_a_hanging_command_inside_a_service_is_bounded(tmp_path: Path, namespace: str,
                                                       docker_client: Any) -> None:
    tests = """
    services:
      - name: web
        port: 8080
        timeout: 20
        commands:
          - name: hangs
            run: [sleep, "1000"]
            timeout: 2
    """
    project = project_with(tmp_path, namespace, web_resource("slow", tests))
    doit(project, docker_client, namespace, "build")

    result, seconds = timed_doit(project, docker_client, namespace)

    assert result.returncode != 0
    assert seconds < 2 + 20, f"the run took {seconds:.1f} s"
    checks = reports(project, "slow", {"web": False})
    assert checks["web"]["message"] == "hangs: timed out after 2 s (the container was killed)"


def test_editing_a_parents_tests_retests_only_the_parent(tmp_path: Path, namespace: str,
                                                          docker_client: Any) -> None:
    files: dict[str, str | Path] = {
        **root_resource("base"),
        "resources/base/tests.yaml": "commands:\n  - name: works\n    run: [\"true\"]\n",
        **child_resource("app", "base"),
        "resources/app/tests.yaml": "commands:\n  - name: note\n    run: [cat, /note.txt]\n    stdout: app\n",
    }
    project = project_with(tmp_path, namespace, files)
    first = doit(project, docker_client, namespace)
    assert first.returncode == 0, first.stdout + first.stderr

    write(project / "resources/base/tests.yaml", "commands:\n  - name: still works\n    run: [\"true\"]\n")
    edited = doit(project, docker_client, namespace)

    assert edited.returncode == 0, edited.stdout
    assert (ran(edited, "build"), ran(edited, "test")) == ([], ["base"])
    assert_lines(edited, "base", {"still works": "passed"})


def test_containers_left_by_an_interrupted_run_are_removed(tmp_path: Path, namespace: str,
                                                           docker_client: Any) -> None:
    files = dict(root_resource("box"))
    files["resources/box/tests.yaml"] = "commands:\n  - name: works\n    run: [\"true\"]\n"
    project = project_with(tmp_path, namespace, files)
    assert doit(project, docker_client, namespace, "build").returncode == 0
    image = image_of(docker_client, f"{namespace}/box")
    docker_client.containers.create(image, ["sleep", "1000"], labels={
        "calvin.smoke": "1", "calvin.namespace": namespace, "calvin.resource": "box"})

    result = doit(project, docker_client, namespace)

    assert result.returncode == 0, result.stdout
    assert "box · removed 1 container(s) left by an interrupted run" in result.stdout


def test_a_coloured_log_still_gives_a_readable_junit_report(tmp_path: Path, namespace: str,
                                                           docker_client: Any) -> None:
    files = dict(root_resource("colour"))
    files["resources/colour/tests.yaml"] = yaml("""
    commands:
      - name: colourful failure
        run: [sh, -c, "printf '\\\\033[31mERROR\\\\033[0m broke\\\\n'; exit 1"]
    """)
    project = project_with(tmp_path, namespace, files)

    result = doit(project, docker_client, namespace)

    assert result.returncode != 0
    assert_lines(result, "colour", {"colourful failure": "FAILED"})
    reports(project, "colour", {"colourful failure": False})


def test_a_service_that_accepts_but_never_answers_fails_within_its_timeout(tmp_path: Path, namespace: str,
                                                                           docker_client: Any) -> None:
    tests = """
    services:
      - name: accepts, never answers
        port: 8080
        command: [nc, -ll, -p, "8080", -e, sleep, "1000"]
        http: {path: /}
        timeout: 1
    """
    project = project_with(tmp_path, namespace, web_resource("mute", tests))

    doit(project, docker_client, namespace)

    checks = reports(project, "mute", {"accepts, never answers": False})
    assert checks["accepts, never answers"]["message"].startswith("not ready within 1 s on port 8080")
    assert checks["accepts, never answers"]["seconds"] < 1 + 2.5
