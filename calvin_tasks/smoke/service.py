"""The service check: start the image's own command, wait (bounded, with back-off) until it
answers on its port, then check it."""
from __future__ import annotations

import re
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Mapping

from .kinds import SMOKE_LABEL, SMOKE_NETWORK, SmokeContext, env_text, excerpt, expect_output


class ServiceCheck:
    """Start the image's own command, wait (bounded, retrying) until it answers, then check it."""

    def run(self, ctx: SmokeContext, spec: Mapping[str, Any]) -> tuple[bool, str, str]:
        timeout = float(spec.get("timeout", ctx.timeout))
        network = ctx.engine.ensure_network(SMOKE_NETWORK, {SMOKE_LABEL: "1"})
        service = ctx.engine.start_service(image=ctx.image, command=spec.get("command"), env=env_text(spec.get("env")),
                                           port=int(spec["port"]), limits=ctx.limits, labels=ctx.labels,
                                           network=network)
        try:
            ready, why = self._wait(ctx, service.container, service.host_port, spec, timeout)
            if not ready:
                return False, why, ctx.engine.logs(service.container)
            wrong: list[str] = []
            for request in spec.get("requests") or []:
                ok, why = _http_once(service.host_port, request)
                if not ok:
                    wrong.append(why)
            for command in spec.get("commands") or []:
                limit = float(command.get("timeout", ctx.timeout))
                outcome = ctx.engine.exec(service.container, command=list(command["run"]),
                                          env=env_text(command.get("env")), user=command.get("user"), timeout=limit)
                found = expect_output(command, outcome)
                if outcome.timed_out:
                    found = [f"timed out after {limit:g} s (the container was killed)"]
                wrong += [f"{command['name']}: {w}" for w in found]
            if wrong:
                return False, "; ".join(wrong), ctx.engine.logs(service.container)
            return True, "", ""
        finally:
            ctx.engine.remove(service.container)

    def _wait(self, ctx: SmokeContext, container: str, host_port: int, spec: Mapping[str, Any],
              timeout: float) -> tuple[bool, str]:
        deadline = time.monotonic() + timeout
        delay = 0.05
        last = "no answer yet"
        while True:
            running, code = ctx.engine.state(container)
            if not running:
                return False, f"the service exited with status {code} before answering on port {spec['port']}"
            if host_port:
                left = max(0.1, deadline - time.monotonic())
                if "http" in spec:
                    ok, last = _http_once(host_port, spec["http"], timeout=min(5.0, left))
                else:
                    ok, last = _listening(host_port, timeout=min(1.0, left))
                if ok:
                    return True, ""
            if time.monotonic() + delay > deadline:
                return False, f"not ready within {timeout:g} s on port {spec['port']}: {last}"
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _listening(host_port: int, timeout: float = 1.0) -> tuple[bool, str]:
    """Whether the service accepts on its port. The engine's proxy accepts for it, then hangs up
    when nothing listens behind it: an open connection with no immediate hang-up means listening."""
    try:
        with socket.create_connection(("127.0.0.1", host_port), timeout=timeout) as sock:
            sock.settimeout(min(0.3, timeout))
            try:
                data = sock.recv(1)
            except socket.timeout:
                return True, ""
            return (True, "") if data else (False, "connection closed: nothing listens on the port")
    except OSError as err:
        return False, f"cannot connect: {err}"


def _http_once(host_port: int, spec: Mapping[str, Any], timeout: float = 5.0) -> tuple[bool, str]:
    path = spec.get("path", "/")
    url = f"http://127.0.0.1:{host_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            status, body = response.status, response.read(1024 * 1024).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read(1024 * 1024).decode("utf-8", "replace")
    except (OSError, urllib.error.URLError) as err:
        return False, f"GET {path}: {getattr(err, 'reason', err)}"
    wrong = []
    expected = int(spec.get("status", 200))
    if status != expected:
        wrong.append(f"status {status}, expected {expected}")
    if "body" in spec and not re.search(spec["body"], body, re.MULTILINE):
        wrong.append(f"body does not match /{spec['body']}/: {excerpt(body)}")
    if "body_excludes" in spec and re.search(spec["body_excludes"], body, re.MULTILINE):
        wrong.append(f"body matches /{spec['body_excludes']}/")
    return (not wrong), f"GET {path}: " + "; ".join(wrong) if wrong else ""
