"""pytest fixtures for a resource's own test_*.py smoke tests (loaded with -p).

    def test_answers(calvin_image, calvin_container):
        service = calvin_container(port=8080)
        ...  # service.url, service.exec([...]), service.logs()
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pytest

from ..engine import Engine, Limits, Outcome


class RunningService:
    def __init__(self, engine: Engine, container: str, host_port: int) -> None:
        self.engine, self.container, self.host_port = engine, container, host_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    def exec(self, command: list[str], timeout: float = 30) -> Outcome:
        return self.engine.exec(self.container, command=command, env={}, user=None, timeout=timeout)

    def logs(self) -> str:
        return self.engine.logs(self.container, tail=200)


@pytest.fixture(scope="session")
def calvin_image() -> str:
    """The id of the image under test."""
    return os.environ["CALVIN_SMOKE_IMAGE"]


@pytest.fixture
def calvin_container(calvin_image: str) -> Iterator[Callable[..., RunningService]]:
    """Start the image's own command with `port` published on 127.0.0.1; removed afterwards."""
    engine = Engine()
    started: list[str] = []
    labels = dict(item.split("=", 1) for item in os.environ.get("CALVIN_SMOKE_LABELS", "").split(",") if "=" in item)
    limits = Limits(os.environ.get("CALVIN_SMOKE_MEMORY", "256m"), int(os.environ.get("CALVIN_SMOKE_PIDS", "256")))

    def start(port: int, env: dict[str, str] | None = None, command: list[str] | None = None) -> RunningService:
        network = engine.ensure_network(os.environ.get("CALVIN_SMOKE_NETWORK", "calvin-smoke"), {"calvin.smoke": "1"})
        service = engine.start_service(image=calvin_image, command=command, env=env or {}, port=port,
                                       limits=limits, labels=labels, network=network)
        started.append(service.container)
        return RunningService(engine, service.container, service.host_port)

    yield start
    for container in started:
        engine.remove(container)


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "calvin: a Calvin smoke test")
