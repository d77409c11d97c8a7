"""Fixtures for the fault tests: a private Docker engine (its own dockerd, data root, socket and
bridge — never the host's docker0, never --bridge=none), an htpasswd registry with a `docker
login` of its own, per-test namespaces, and the table of outcomes printed at the end.

The private engine runs with --iptables=false: it adds no iptables rules (nothing to undo) and its
containers have no egress, which these tests do not need — every image is FROM scratch with the
host's static busybox copied in through the build context; nothing is pulled.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import signal
from pathlib import Path
from typing import Any, Iterator

import pytest

from bench.engine import PrivateEngine
from fault_helpers import FaultEnvironment, Outcome
from helpers import Credentials, registry_installed, remove_namespace, start_registry

OUTCOMES: list[Outcome] = []


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI runs the fault tests and {reason}")
    pytest.skip(reason)


def _kill_leftover_shims(exec_root: Path) -> None:
    """Container shims of the private engine outlive a killed dockerd; they name its exec root."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(exec_root) + "/" in command and "containerd-shim" in command:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def private_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateEngine]:
    if not PrivateEngine.possible():
        _unavailable("a private Docker engine needs root and dockerd (`make engine`)")
    pid = os.getpid()
    engine = PrivateEngine(tmp_path_factory.mktemp("engine"), token=f"calvin-faults-{pid}",
                           bridge=f"calvflt{pid % 100000}", address=f"10.254.{20 + pid % 200}.1/24")
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()
        _kill_leftover_shims(engine.exec_root)


@pytest.fixture(scope="session")
def faults(private_engine: PrivateEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultEnvironment]:
    """The engine, an htpasswd registry and the Docker config holding its login."""
    if not registry_installed():
        _unavailable("docker-registry is not installed (`make registry`)")
    import docker

    folder = tmp_path_factory.mktemp("faults")
    login = Credentials("calvin", secrets.token_hex(12))
    server = start_registry(folder / "registry", credentials=login)
    config = folder / "docker-config"
    config.mkdir()
    auth = base64.b64encode(f"{login.user}:{login.password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {server.address: {"auth": auth}}}))
    client = docker.DockerClient(base_url=private_engine.base_url, timeout=120)
    try:
        yield FaultEnvironment(private_engine, server, config, client)
    finally:
        client.close()
        server.stop()


@pytest.fixture
def ns(faults: FaultEnvironment) -> Iterator[str]:
    """A namespace of this test's own in the private engine; its containers and images go afterwards."""
    name = f"calvin-fault-{secrets.token_hex(3)}"
    yield name
    # the next test starts from a running engine and registry and an engine without containers,
    # whatever this one did (the engine is this session's own, and tests run one at a time)
    if not faults.engine_answers():
        faults.engine.start_daemon()
    faults.registry.start()
    remove_namespace(faults.client, name)
    for container in faults.client.api.containers(all=True):
        faults.client.api.remove_container(container["Id"], force=True)


@pytest.fixture
def outcome() -> Any:
    """Record one row of the fault table: fault, outcome, rerun seconds, what the user saw."""
    def add(fault: str, result: str, rerun_seconds: float, user_sees: str) -> None:
        OUTCOMES.append(Outcome(fault, result, rerun_seconds, user_sees))
    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not OUTCOMES:
        return
    terminalreporter.section("faults: outcome and rerun time")
    for row in OUTCOMES:
        terminalreporter.write_line(f"{row.fault:<34} {row.result:<10} rerun {row.rerun_seconds:6.1f} s  "
                                    f"| {row.user_sees}")
    table = os.environ.get("CALVIN_FAULT_TABLE")
    if table:
        Path(table).write_text(json.dumps([row.__dict__ for row in OUTCOMES], indent=2) + "\n")
