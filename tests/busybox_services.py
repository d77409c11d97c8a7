"""The tiny busybox resources the environment tests deploy (tests/test_environments_engine.py on
Compose, tests/test_swarm_engine.py on a two-node swarm, tests/test_stack_unit.py rendered):

- `web` serves a page made from its configuration with busybox httpd: `/` is "<greeting> from
  <host name>", `/motd.txt` the file value `web_motd`; it needs its secret `web_token`, and a
  greeting of "break" serves the wrong port, so its health check (its smoke-test service check)
  fails;
- `worker` only sleeps (two instances in the environments).
"""
from __future__ import annotations

import socket
from typing import Any

from helpers import BUSYBOX

# The deploy's health check runs the image's curl (base-linux has it); busybox images get a small one.
CURL = """#!/bin/busybox sh
# curl -s -o /dev/null --max-time N -w '%{http_code}' http://127.0.0.1:PORT/PATH, with busybox nc
url="$(eval echo \\${$#})"; rest="${url#http://}"; hostport="${rest%%/*}"; path="/${rest#*/}"
printf 'GET %s HTTP/1.0\\r\\n\\r\\n' "$path" | nc -w 3 "${hostport%:*}" "${hostport#*:}" | head -n 1 | cut -d' ' -f2
"""

WEB_START = """#!/bin/busybox sh
mkdir -p /www
echo "$CALVIN_GREETING from $(hostname)" > /www/index.html
test -s "$CALVIN_WEB_TOKEN_FILE" || { echo "no token" >&2; exit 78; }
cp "$CALVIN_WEB_MOTD_FILE" /www/motd.txt || { echo "no motd" >&2; exit 78; }
# a greeting of "break" serves the wrong port: the health check fails
test "$CALVIN_GREETING" = break && exec httpd -f -p 8081 -h /www
exec httpd -f -p 8080 -h /www
"""


def resource(name: str, version: str, extra_yaml: str, dockerfile_tail: str, files: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        f"resources/{name}/resource.yaml": f"description: {name}\ngroup: supporting\nversion: {version}\n" + extra_yaml,
        f"resources/{name}/busybox": BUSYBOX,
        f"resources/{name}/Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\n"
                                        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n' + dockerfile_tail,
    }
    out.update({f"resources/{name}/{path}": text for path, text in files.items()})
    return out


def web_and_worker(check_timeout: int = 20) -> dict[str, Any]:
    """The two resources' files; `check_timeout` bounds the service check (and is the deployed health
    check's start period)."""
    web = resource("web", "1.0.0", (
        "config:\n  greeting: {type: string}\n  web_token: {type: secret}\n  web_motd: {type: file}\n"
        "runtime:\n  ports: [8080]\n  health: page answers\n"),
        "COPY start curl /\nRUN chmod 755 /start /curl && mv /curl /bin/curl\nEXPOSE 8080\nCMD [\"/start\"]\n",
        {"start": WEB_START, "curl": CURL, "tests.yaml": (
            f"services:\n  - name: page answers\n    port: 8080\n    timeout: {check_timeout}\n"
            "    env: {CALVIN_GREETING: hello, CALVIN_WEB_TOKEN_FILE: /start, CALVIN_WEB_MOTD_FILE: /start}\n"
            "    http: {path: /, status: 200, body: hello}\n")})
    worker = resource("worker", "1.0.0", "", 'CMD ["sleep", "100000"]\n',
                      {"tests.yaml": "commands:\n  - name: sleeps\n    run: [sh, -c, 'command -v sleep']\n"})
    return {**web, **worker}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
