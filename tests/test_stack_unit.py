"""The stack file of a `deploy: swarm` environment, rendered without an engine: images by registry
digest only, dnsrr, host-mode ports, placement, rolling updates with rollback, health checks, and
secrets and file values as Swarm objects named by their content's hash — never a secret's value.
The compose file of the same environment delivers a file value as a read-only bind mount."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from calvin_tasks.deploy import files as file_values
from calvin_tasks.deploy import render, stack
from calvin_tasks.deploy.pins import Pin
from calvin_tasks.environments import Environment
from calvin_tasks.errors import CalvinError
from calvin_tasks.model import Project
from calvin_tasks.project import load_project
from helpers import make_project
from test_swarm_engine import project_files

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def swarm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Project, Environment]:
    monkeypatch.setenv("CALVIN_SECRETS", str(tmp_path / "secrets"))
    monkeypatch.setenv("CALVIN_COMPOSE_PROJECT", "calvin-dev")
    project = load_project(make_project(tmp_path / "project", project_files(8123)))
    environment = next(e for e in project.environments if isinstance(e, Environment) and e.name == "dev")
    (tmp_path / "secrets" / "dev").mkdir(parents=True)
    (tmp_path / "secrets" / "dev" / "web-token").write_text("s3cr3t-value")
    return project, environment


def pins(image: str) -> dict[str, Pin]:
    return {name: Pin(name, "1.0.0", DIGEST, "f" * 64, image.format(name=name)) for name in ("web", "worker")}


def test_local_only_pins_are_refused_with_what_to_do(swarm: tuple[Project, Environment]) -> None:
    project, environment = swarm
    with pytest.raises(CalvinError) as caught:
        stack.render_stack(project, environment, pins(DIGEST), stack.swarm_secrets(environment))
    message = str(caught.value)
    assert "configs/pins/dev.yaml pins local images only (web, worker)" in message
    assert "CALVIN_REGISTRY" in message and "doit pin dev" in message


def test_the_stack_file_pins_digests_places_rolls_back_and_names_secrets_by_hash(swarm: tuple[Project, Environment],
                                                                             tmp_path: Path) -> None:
    project, environment = swarm
    objects = stack.swarm_secrets(environment)
    document = stack.render_stack(project, environment, pins("reg.example:5000/ns/{name}@" + DIGEST),
                                  objects)
    web, worker = document["services"]["web"], document["services"]["dev-worker-2"]
    assert web["image"] == f"reg.example:5000/ns/web@{DIGEST}" and worker["hostname"] == "dev-worker-2"
    assert web["deploy"]["endpoint_mode"] == "dnsrr" and web["networks"] == {"calvin": {"aliases": ["web"]}}
    assert web["ports"] == [{"target": 8080, "published": 8123, "protocol": "tcp", "mode": "host"}]
    assert web["deploy"]["update_config"]["failure_action"] == "rollback"
    assert web["deploy"]["update_config"]["order"] == "stop-first"      # a host port is held by one task
    assert worker["deploy"]["update_config"]["order"] == "start-first"
    assert worker["deploy"]["placement"] == {"constraints": ["node.labels.executors == true"]}
    assert "8080" in web["healthcheck"]["test"][1] and "healthcheck" not in worker
    name = objects["web-token"].name
    assert re.fullmatch(r"calvin-dev_web-token_[0-9a-f]{8}", name)
    assert web["secrets"] == [{"source": name, "target": "web-token", "uid": "10001", "gid": "10001", "mode": 0o400}]
    assert web["environment"]["CALVIN_WEB_TOKEN_FILE"] == "/run/secrets/web-token" and "secrets" not in worker
    assert document["secrets"] == {name: {"external": True, "name": name}}
    assert "s3cr3t-value" not in yaml.safe_dump(document)

    (tmp_path / "secrets" / "dev" / "web-token").write_text("another-value")
    assert stack.swarm_secrets(environment)["web-token"].name != name


def test_a_file_value_is_a_swarm_config_named_by_hash_read_only_in_the_services_that_read_it(
        swarm: tuple[Project, Environment], tmp_path: Path) -> None:
    project, environment = swarm
    motd = tmp_path / "project" / "configs" / "environments" / "files" / "motd.txt"
    assert environment.files == {"web_motd": motd.resolve()}
    document = stack.render_stack(project, environment, pins("reg.example:5000/ns/{name}@" + DIGEST),
                                  stack.swarm_secrets(environment))
    name = document["services"]["web"]["configs"][0]["source"]
    assert re.fullmatch(r"calvin-dev_web_motd-[0-9a-f]{12}", name), name
    assert name.endswith(hashlib.sha256(motd.read_bytes()).hexdigest()[:12])
    assert document["services"]["web"]["configs"] == [{"source": name, "target": "/run/configs/web_motd",
                                                      "uid": "0", "gid": "0", "mode": 0o444}]
    assert document["services"]["web"]["environment"]["CALVIN_WEB_MOTD_FILE"] == "/run/configs/web_motd"
    assert "configs" not in document["services"]["dev-worker-1"]  # the worker does not read it
    assert document["configs"] == {name: {"external": True, "name": name}}

    motd.write_text("another message\n")
    again = stack.render_stack(project, environment, pins("reg.example:5000/ns/{name}@" + DIGEST),
                               stack.swarm_secrets(environment))
    assert again["services"]["web"]["configs"][0]["source"] != name
    assert again["services"]["dev-worker-1"] == document["services"]["dev-worker-1"]


def test_compose_mounts_a_file_value_read_only_and_a_change_replaces_only_its_readers(
        swarm: tuple[Project, Environment], tmp_path: Path) -> None:
    project, environment = swarm
    motd = environment.files["web_motd"]
    document, env_files = render.render(project, environment, pins(DIGEST))
    web, worker = document["services"]["web"], document["services"]["dev-worker-1"]
    assert f"{motd}:/run/configs/web_motd:ro" in web["volumes"]
    assert "CALVIN_WEB_MOTD_FILE=/run/configs/web_motd\n" in env_files["web.env"]
    assert not any("/run/configs" in mount for mount in worker.get("volumes") or [])
    assert "calvin.files" not in worker["labels"]

    motd.write_text("another message\n")
    again, _ = render.render(project, environment, pins(DIGEST))
    assert again["services"]["web"]["labels"]["calvin.files"] != web["labels"]["calvin.files"]
    assert again["services"]["dev-worker-1"] == worker


def test_object_names_keep_within_swarms_64_characters(swarm: tuple[Project, Environment],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalogue's `artefact-repository-http-secret` under a test namespace's stack passed 64."""
    project, environment = swarm
    stack_name = "calvin-catalogue-189d87fb-dev"
    name = file_values.object_name(stack_name, "artefact-repository-http-secret", "_", "8b609484")
    assert len(name) <= 64 and re.fullmatch(rf"{stack_name}_artefact-repository-http_8b609484", name), name
    monkeypatch.setenv("CALVIN_COMPOSE_PROJECT", stack_name + "-longer")
    names = [s.name for s in stack.swarm_secrets(environment).values()] + \
        [c.name for c in file_values.swarm_configs(environment, stack_name + "-longer").values()]
    assert names and all(len(n) <= 64 for n in names), names
    monkeypatch.setenv("CALVIN_COMPOSE_PROJECT", "x" * 60)
    with pytest.raises(CalvinError, match="too long"):
        stack.swarm_secrets(environment)
