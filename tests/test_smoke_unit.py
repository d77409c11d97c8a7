"""Smoke tests without a Docker engine: tests.yaml validation, reports and the record of a pass,
and the readiness probes (_listening, _http_once) against local servers."""
from __future__ import annotations

import http.server
import json
import socket
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator

import pytest

from calvin_tasks import results
from calvin_tasks.smoke import kinds, service
from calvin_tasks.engine import Outcome
from calvin_tasks.errors import InputError
from calvin_tasks.model import Fingerprints, Settings
from calvin_tasks.project import load_project
from calvin_tasks.smoke.kinds import CheckResult
from helpers import make_project, run_doit

TESTS = "resources/web/tests.yaml"


# -- tests.yaml: clear messages for bad input ---------------------------------------------------

def project(tmp_path: Path, tests: str, **extra: str) -> Path:
    files = {
        "resources/web/resource.yaml": "description: web\ngroup: base\nversion: 1.0.0\n",
        "resources/web/Dockerfile": "FROM scratch\nCOPY x /x\nEXPOSE 80 8080\n",
        "resources/web/x": "x\n",
        TESTS: tests,
    }
    files.update({f"resources/web/{name}": text for name, text in extra.items()})
    return make_project(tmp_path / "project", files)


def problems(tmp_path: Path, tests: str) -> list[str]:
    """The problems load_project reports for this tests.yaml, one string each."""
    root = project(tmp_path, tests)
    with pytest.raises(InputError) as caught:
        load_project(root)
    found = [str(problem) for problem in caught.value.problems]
    assert str(caught.value).startswith(f"{len(found)} problem")
    return found


def test_an_unknown_check_key_suggests_the_right_one(tmp_path: Path) -> None:
    found = problems(tmp_path, 'commands:\n  - name: a\n    run: [echo]\n    stdot: "x"\n')

    assert found == [f"{TESTS}:4 · resource 'web' · commands[0].stdot: unknown key 'stdot' — did you mean 'stdout'?"]


def test_an_unknown_top_level_or_metadata_key_suggests_the_right_one(tmp_path: Path) -> None:
    found = problems(tmp_path, "comands: []\nmetadata:\n  workdri: /srv\n")

    assert found == [
        f"{TESTS}:1 · resource 'web' · comands: unknown key 'comands' — did you mean 'commands'?",
        f"{TESTS}:3 · resource 'web' · metadata.workdri: unknown key 'workdri' — did you mean 'workdir'?",
    ]


def test_run_given_as_a_string(tmp_path: Path) -> None:
    found = problems(tmp_path, 'commands:\n  - name: a\n    run: "echo hi"\n')

    assert len(found) == 1
    assert found[0].startswith(f"{TESTS}:3 · resource 'web' · commands[0].run: expected a list, found a string")
    assert "a command as a list of words" in found[0]


def test_a_bad_regex_names_the_pattern_and_its_place(tmp_path: Path) -> None:
    tests = ("commands:\n  - name: a\n    run: [echo]\n    stdout: \"(unclosed\"\n"
             "services:\n  - name: s\n    port: 80\n    commands:\n      - name: c\n        run: [x]\n"
             "        stderr_excludes: \"[bad\"\n")
    found = problems(tmp_path, tests)

    assert len(found) == 2
    assert found[0].startswith(f"{TESTS}:4 · resource 'web' · commands[0].stdout: "
                               "invalid regular expression '(unclosed': missing )")
    assert found[1].startswith(f"{TESTS}:11 · resource 'web' · services[0].commands[0].stderr_excludes: "
                               "invalid regular expression '[bad'")
    assert all("Python regex syntax" in problem for problem in found)


def test_a_mode_must_be_quoted_octal(tmp_path: Path) -> None:
    found = problems(tmp_path, 'files:\n  - path: /x\n    mode: 0755\n  - path: /y\n    mode: "0999"\n')

    assert found == [
        f"{TESTS}:3 · resource 'web' · files[0].mode: expected a string, found an integer — octal, quoted, e.g. \"0755\"",
        f"{TESTS}:5 · resource 'web' · files[1].mode: '0999' is not valid here — octal, quoted, e.g. \"0755\"",
    ]


def test_duplicate_check_names(tmp_path: Path) -> None:
    found = problems(tmp_path, "commands:\n  - name: a\n    run: [echo]\n  - name: a\n    run: [echo]\n"
                               "files:\n  - path: /x\n  - path: /x\n")

    assert found == [
        f"{TESTS}:4 · resource 'web': two checks are named 'a' (also line 2) — give each check its own name",
        f"{TESTS}:8 · resource 'web': two checks are named 'file /x' (also line 7) — give each check its own name",
    ]


def test_a_service_needs_a_port(tmp_path: Path) -> None:
    found = problems(tmp_path, "services:\n  - name: s\n    http: {path: /}\n")

    assert found == [f"{TESTS}:2 · resource 'web' · services[0]: missing required key 'port' — add 'port:'"]


def test_an_http_path_must_start_with_a_slash(tmp_path: Path) -> None:
    found = problems(tmp_path, "services:\n  - name: s\n    port: 80\n    http: {path: healthz}\n")

    assert found == [f"{TESTS}:4 · resource 'web' · services[0].http.path: 'healthz' is not valid here"
                     " — a path starting with /, e.g. /healthz"]


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    tests = ("commands:\n  - name: a\n    run: [echo]\n    stdot: x\n"
             "files:\n  - path: /x\n    mode: 755\n"
             "services:\n  - name: s\n")
    found = problems(tmp_path, tests)

    assert [problem.split(" · ")[0] for problem in found] == [f"{TESTS}:4", f"{TESTS}:7", f"{TESTS}:9"]


def test_valid_checks_are_parsed_in_order_with_their_lines(tmp_path: Path) -> None:
    tests = ("commands:\n  - name: shell\n    run: [sh, -c, \"echo hi\"]\n"
             "files:\n  - path: /x\n    mode: \"0644\"\n"
             "metadata:\n  user: \"1000\"\n"
             "services:\n  - name: web\n    port: 8080\n")
    root = project(tmp_path, tests, **{"test_smoke.py": "def test_x(calvin_image):\n    pass\n"})

    checks = load_project(root).resources["web"].checks

    assert [(c.kind, c.name, c.line) for c in checks] == [
        ("command", "shell", 2), ("file", "file /x", 5), ("metadata", "metadata user", 8),
        ("service", "web", 10), ("pytest", "pytest test_smoke.py", 0)]
    assert checks[2].spec == {"key": "user", "expected": "1000"}


def test_an_env_variable_named_like_a_regex_key_is_not_a_regex(tmp_path: Path) -> None:
    root = project(tmp_path, 'metadata:\n  env: {contains: "[x"}\n  labels: {body: "(beta"}\n')

    checks = load_project(root).resources["web"].checks

    assert [c.name for c in checks] == ["metadata env", "metadata labels"]


def test_doit_with_a_bad_tests_file_says_so_and_builds_nothing(tmp_path: Path) -> None:
    root = project(tmp_path, 'commands:\n  - name: a\n    run: [echo]\n    stdot: "x"\n')

    result = run_doit(root, namespace="calvin-unit-no-engine", env={"DOCKER_HOST": "unix:///nonexistent.sock"})

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert f"{TESTS}:4 · resource 'web' · commands[0].stdot: unknown key 'stdot' — did you mean 'stdout'?" in output
    assert ".  build:web" not in result.stdout  # never started: the run stops before any build


# -- reports and the record of a pass ------------------------------------------------------------

def settings(tmp_path: Path) -> Settings:
    return Settings(root=tmp_path, namespace="ns", output=tmp_path / "out")


FINGERPRINTS = Fingerprints(build="b" * 64, test="t" * 64)
IMAGE = "sha256:" + "1" * 64


def test_reports_hold_every_check(tmp_path: Path) -> None:
    checks = [CheckResult("web", "command", "shell", True, "", 0.25, "hello\n"),
              CheckResult("web", "service", "answers <&> \"quoted\"", False, "GET /: status 500, expected 200",
                          1.5, "the log\nline 2\n")]

    json_path, junit_path = results.write_reports(settings(tmp_path), "web", IMAGE, FINGERPRINTS, checks)

    assert json_path == tmp_path / "out" / "reports" / "web.json"
    assert junit_path == tmp_path / "out" / "reports" / "web.junit.xml"
    data = json.loads(json_path.read_text())
    assert {k: data[k] for k in ("resource", "image", "build_fingerprint", "test_fingerprint", "passed", "counts")} == {
        "resource": "web", "image": IMAGE, "build_fingerprint": "b" * 64, "test_fingerprint": "t" * 64,
        "passed": False, "counts": {"checks": 2, "failed": 1}}
    assert data["checks"][1] == {"resource": "web", "kind": "service", "name": "answers <&> \"quoted\"",
                                 "passed": False, "message": "GET /: status 500, expected 200", "seconds": 1.5,
                                 "log": "the log\nline 2\n"}
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("time")) == (
        "calvin.web", "2", "1", "1.750")
    passed, failed = suite.findall("testcase")
    assert (passed.get("classname"), passed.get("name"), passed.find("failure")) == ("web.command", "shell", None)
    assert (failed.get("classname"), failed.get("name")) == ("web.service", "answers <&> \"quoted\"")
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("message") == "GET /: status 500, expected 200"
    assert failure.text == "the log\nline 2\n"
    assert not list((tmp_path / "out" / "reports").glob(".*")), "no temporary files left"


def test_reports_of_a_resource_without_checks(tmp_path: Path) -> None:
    json_path, junit_path = results.write_reports(settings(tmp_path), "web", IMAGE, FINGERPRINTS, [])

    data = json.loads(json_path.read_text())
    assert (data["passed"], data["counts"], data["checks"]) == (True, {"checks": 0, "failed": 0}, [])
    assert ET.parse(junit_path).getroot().tag == "testsuites"


def test_a_log_with_colour_codes_still_gives_valid_junit(tmp_path: Path) -> None:
    checks = [CheckResult("web", "command", "colours", False, "exit code 1, expected 0", 0.1,
                          "\x1b[31mERROR\x1b[0m something broke\n")]

    _, junit_path = results.write_reports(settings(tmp_path), "web", IMAGE, FINGERPRINTS, checks)

    ET.parse(junit_path)


def test_a_pass_is_recorded_for_this_image_and_these_fingerprints(tmp_path: Path) -> None:
    config = settings(tmp_path)
    assert not results.passed(config, "web", IMAGE, FINGERPRINTS)

    results.record_pass(config, "web", IMAGE, FINGERPRINTS, 3)

    assert results.passed(config, "web", IMAGE, FINGERPRINTS)
    assert results.record_path(config, "web") == tmp_path / "out" / "state" / "tests" / "ns--web.json"
    record = json.loads(results.record_path(config, "web").read_text())
    assert {k: record[k] for k in ("image", "build", "test", "checks")} == {
        "image": IMAGE, "build": "b" * 64, "test": "t" * 64, "checks": 3}
    assert not results.passed(config, "web", "sha256:" + "2" * 64, FINGERPRINTS)
    assert not results.passed(config, "web", IMAGE, Fingerprints(build="b" * 64, test="u" * 64))
    assert not results.passed(config, "web", IMAGE, Fingerprints(build="c" * 64, test="t" * 64))
    assert not results.passed(config, "other", IMAGE, FINGERPRINTS)
    other_namespace = Settings(root=tmp_path, namespace="ns2", output=tmp_path / "out")
    assert not results.passed(other_namespace, "web", IMAGE, FINGERPRINTS)

    results.forget_pass(config, "web")

    assert not results.passed(config, "web", IMAGE, FINGERPRINTS)
    results.forget_pass(config, "web")  # forgetting twice is fine


def test_a_damaged_record_is_no_pass(tmp_path: Path) -> None:
    config = settings(tmp_path)
    results.record_pass(config, "web", IMAGE, FINGERPRINTS, 1)
    results.record_path(config, "web").write_text("{not json")

    assert not results.passed(config, "web", IMAGE, FINGERPRINTS)


def test_read_summary_returns_the_json_report(tmp_path: Path) -> None:
    config = settings(tmp_path)
    assert results.read_summary(config, "web") is None
    results.write_reports(config, "web", IMAGE, FINGERPRINTS, [CheckResult("web", "file", "f", True)])

    summary = results.read_summary(config, "web")

    assert summary is not None and summary["passed"] is True and summary["counts"]["checks"] == 1


# -- expected output of a command ---------------------------------------------------------------

def test_expect_output() -> None:
    spec = {"exit_code": 2, "stdout": "^ok$", "stderr_excludes": "panic"}

    assert kinds.expect_output(spec, Outcome(2, "ok\n", "")) == []
    assert kinds.expect_output(spec, Outcome(0, "nope\n", "panic: x")) == [
        "exit code 0, expected 2", "stdout does not match /^ok$/: 'nope'", "stderr matches /panic/: 'panic: x'"]
    assert kinds.expect_output(spec, Outcome(-1, "", "", timed_out=True)) == ["timed out"]


# -- readiness probes against local servers -------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        status, body = {"/": (200, "hello from calvin"), "/health": (200, "ok"),
                        "/boom": (500, "internal error")}.get(self.path, (404, "not found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_once_checks_status_and_body(http_port: int) -> None:
    assert service._http_once(http_port, {}) == (True, "")
    assert service._http_once(http_port, {"path": "/health", "status": 200, "body": "^ok$"}) == (True, "")
    assert service._http_once(http_port, {"path": "/missing", "status": 404, "body": "not found"}) == (True, "")
    assert service._http_once(http_port, {"path": "/boom", "status": 500}) == (True, "")
    assert service._http_once(http_port, {"path": "/boom"}) == (False, "GET /boom: status 500, expected 200")
    assert service._http_once(http_port, {"path": "/", "body": "^bye"}) == (
        False, "GET /: body does not match /^bye/: 'hello from calvin'")
    assert service._http_once(http_port, {"path": "/", "body_excludes": "calvin"}) == (
        False, "GET /: body matches /calvin/")
    assert service._http_once(http_port, {"path": "/missing", "body": "x"}) == (
        False, "GET /missing: status 404, expected 200; body does not match /x/: 'not found'")


def test_http_once_without_a_server() -> None:
    ok, why = service._http_once(_free_port(), {"path": "/health"})

    assert not ok
    assert why.startswith("GET /health: ")
    assert "refused" in why.lower()


def test_listening_on_a_port_that_accepts(http_port: int) -> None:
    assert service._listening(http_port) == (True, "")


def test_not_listening_on_a_closed_port() -> None:
    ok, why = service._listening(_free_port())

    assert not ok
    assert why.startswith("cannot connect: ")


def test_not_listening_when_the_connection_is_closed_at_once() -> None:
    """What the engine's port proxy does when nothing listens behind it: accept, then hang up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def hang_up() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        ok, why = service._listening(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        server.close()

    assert not ok
    assert why == "connection closed: nothing listens on the port"


def test_listening_when_the_service_greets_first() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def greet() -> None:
        connection, _ = server.accept()
        connection.sendall(b"220 ready\r\n")
        connection.close()

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    try:
        assert service._listening(server.getsockname()[1]) == (True, "")
    finally:
        thread.join(5)
        server.close()

