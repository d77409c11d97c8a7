"""Docker contexts: DOCKER_CONTEXT names the engine (a real context made by the docker CLI in a
Docker configuration folder of the test's own); DOCKER_HOST wins over it, as for the CLI; a context
that does not exist is an error naming it; Calvin's engine connection and the docker CLI it runs
(`docker stack …`) use the context's endpoint."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from calvin_tasks.engine import Engine, contexts
from calvin_tasks.engine.transport import DEFAULT_HOST, address
from calvin_tasks.errors import EngineUnavailable

HOST = "unix:///run/calvin-test-no-such-engine.sock"


def make_context(folder: Path, name: str, host: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["docker", "context", "create", name, "--docker", f"host={host}"], check=True, capture_output=True,
                   env={"DOCKER_CONFIG": str(folder), "PATH": "/usr/bin:/bin"}, timeout=60)


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "docker"
    make_context(folder, "elsewhere", HOST)
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    return folder


def test_docker_context_names_the_engine_and_docker_host_wins(docker_config: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert address() == DEFAULT_HOST
    monkeypatch.setenv("DOCKER_CONTEXT", "elsewhere")
    assert contexts.named() == "elsewhere" and address() == HOST
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/other.sock")
    assert contexts.named() is None and address() == "unix:///run/other.sock"
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert address() == DEFAULT_HOST


def test_a_context_that_does_not_exist_is_named(docker_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "no-such-context")
    with pytest.raises(EngineUnavailable) as caught:
        address()
    message = str(caught.value)
    assert "Docker context 'no-such-context'" in message and "does not exist" in message, message
    assert str(docker_config) in message and "docker context create no-such-context" in message


def test_without_a_config_file_the_message_says_what_to_create(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bare"
    make_context(folder, "elsewhere", HOST)  # the CLI writes no config.json
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONTEXT", "elsewhere")
    with pytest.raises(EngineUnavailable, match=r"has no config\.json.*config\.json"):
        address()


def test_an_unreachable_context_is_reported_with_its_name(docker_config: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "elsewhere")
    with pytest.raises(EngineUnavailable) as caught:
        Engine().transport.api  # noqa: B018 - connecting is the check
    assert f"cannot reach the Docker engine at {HOST} (Docker context 'elsewhere')" in str(caught.value)


@pytest.mark.engine
def test_the_engine_and_the_docker_cli_go_through_the_context(docker_config: Path, docker_client: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    make_context(docker_config, "local", "unix:///var/run/docker.sock")
    monkeypatch.setenv("DOCKER_CONTEXT", "local")
    engine = Engine()
    info = engine.transport.call("read the engine's information", engine.transport.api.info)
    assert info["ID"] == docker_client.info()["ID"]  # the engine the context names, through the SDK
    lines: list[str] = []
    engine._cli(["context", "show"], lines.append)  # the CLI reads the same context, not DOCKER_HOST
    assert lines == ["local"]
