"""Environments on one host with Compose (real engine, Debian's docker-compose): pin, up, status,
a changed value or pin replaces exactly the affected instances, secrets never written down,
promote by digest, history, down.

The resources are tiny busybox images (tests/busybox_services.py): `web` serves a page made from its
configuration with busybox httpd (its smoke-test service check is its health check) and its file
value `web_motd`, `worker` runs two instances.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from busybox_services import free_port, web_and_worker
from helpers import make_project, ran, run_doit

pytestmark = pytest.mark.engine


def project_files(namespace: str) -> dict[str, Any]:
    environment = ("description: {env}\ndeploy: compose\nservices:\n"
                   "  web: {{publish: {{8080: \"127.0.0.1:{port}\"}}}}\n"
                   "  worker: {{instances: [{env}-worker-1, {env}-worker-2]}}\n"
                   "values:\n  greeting: {greeting}\n  web_token: {{secret: {env}/web-token}}\n"
                   "  web_motd: {{file: files/motd.txt}}\n")
    return {**web_and_worker(),
            "configs/environments/files/motd.txt": "first message of the day\n",
            "configs/environments/dev.yaml": environment.format(env="dev", port=free_port(), greeting="hello dev"),
            "configs/environments/prod.yaml": environment.format(env="prod", port=free_port(), greeting="hello prod")}


class Env:
    def __init__(self, root: Path, namespace: str, secrets: Path) -> None:
        self.root, self.namespace = root, namespace
        self.env = {"CALVIN_SECRETS": str(secrets), "CALVIN_COMPOSE_PROJECT": f"{namespace}-dev"}

    def doit(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = run_doit(self.root, *args, namespace=self.namespace, env=self.env)
        if ok:
            assert result.returncode == 0, f"doit {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    def containers(self, client: Any) -> dict[str, str]:
        """compose service (instance) → container id."""
        found = client.api.containers(filters={"label": f"com.docker.compose.project={self.namespace}-dev"})
        return {c["Labels"]["com.docker.compose.service"]: c["Id"] for c in found}

    def page(self, path: str = "") -> str:
        port = re.search(r'127\.0\.0\.1:(\d+)', (self.root / "configs/environments/dev.yaml").read_text()).group(1)  # type: ignore[union-attr]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=5) as response:  # noqa: S310
            return str(response.read().decode())


@pytest.fixture
def env(tmp_path: Path, namespace: str, docker_client: Any) -> Iterator[Env]:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed: `make tools`")
    root = make_project(tmp_path / "project", project_files(namespace))
    secrets = tmp_path / "secrets"
    environment = Env(root, namespace, secrets)
    try:
        yield environment
    finally:
        for name in ("dev", "prod"):
            compose = root / "out" / "environments" / name / "docker-compose.yml"
            if compose.is_file():
                subprocess.run(["docker-compose", "-p", f"{namespace}-{name}", "-f", str(compose), "down", "-v",
                                "--remove-orphans", "-t", "2"], capture_output=True, timeout=120)


def test_an_environment_runs_its_pins_and_replaces_exactly_what_changed(env: Env, docker_client: Any) -> None:
    env.doit()
    missing = env.doit("up:dev", ok=False)
    assert missing.returncode != 0 and "not pinned" in missing.stdout and "doit pin dev" in missing.stdout
    assert not (Path(env.env["CALVIN_SECRETS"]) / "dev").exists()  # nothing half done

    created = env.doit("secrets", "dev")
    assert "created   dev/web-token" in created.stdout
    token = (Path(env.env["CALVIN_SECRETS"]) / "dev" / "dev/web-token").read_text()
    assert oct((Path(env.env["CALVIN_SECRETS"]) / "dev" / "dev/web-token").stat().st_mode & 0o777) == "0o600"
    env.doit("pin", "dev")
    pins = (env.root / "configs" / "pins" / "dev.yaml").read_text()
    assert re.search(r"web:\n\s+version: 1\.0\.0\n\s+digest: sha256:[0-9a-f]{64}", pins), pins

    up = env.doit("up:dev")
    assert re.search(r"dev-worker-1\s+worker 1\.0\.0 \(sha256:[0-9a-f]{12}\) → none", up.stdout), up.stdout
    assert re.search(r"web\s+web 1\.0\.0 \(sha256:[0-9a-f]{12}\) → healthy", up.stdout), up.stdout
    assert env.page() == "hello dev from web\n"
    first = env.containers(docker_client)
    assert set(first) == {"web", "dev-worker-1", "dev-worker-2"}
    assert "as pinned" in env.doit("status:dev").stdout

    # a no-op up replaces nothing
    env.doit("up:dev")
    assert env.containers(docker_client) == first

    # a changed value replaces exactly the service that reads it
    dev = env.root / "configs" / "environments" / "dev.yaml"
    dev.write_text(dev.read_text().replace("greeting: hello dev", "greeting: hello again"))
    env.doit("up:dev")
    second = env.containers(docker_client)
    assert second["web"] != first["web"]
    assert {k: v for k, v in second.items() if k != "web"} == {k: v for k, v in first.items() if k != "web"}
    assert env.page() == "hello again from web\n"

    # a changed file value: again exactly the service that reads it, the file read-only in it
    assert env.page("motd.txt") == "first message of the day\n"
    (env.root / "configs" / "environments" / "files" / "motd.txt").write_text("second message\n")
    env.doit("up:dev")
    changed = env.containers(docker_client)
    assert changed["web"] != second["web"]
    assert {k: v for k, v in changed.items() if k != "web"} == {k: v for k, v in second.items() if k != "web"}
    assert env.page("motd.txt") == "second message\n"
    mounts = docker_client.api.inspect_container(changed["web"])["Mounts"]
    assert [(m["Destination"], m["RW"]) for m in mounts if "configs" in m["Destination"]] == \
        [("/run/configs/web_motd", False)], mounts
    second = changed

    # a new release of worker, pinned: the two workers are replaced, web keeps running
    worker = env.root / "resources" / "worker"
    (worker / "Dockerfile").write_text((worker / "Dockerfile").read_text() + "LABEL note=second\n")
    (worker / "resource.yaml").write_text((worker / "resource.yaml").read_text().replace("1.0.0", "1.0.1"))
    assert ran(env.doit(), "release") == ["worker"]
    drifted = env.doit("status:dev", ok=False)
    assert drifted.returncode == 0  # the pins did not move yet: what runs is what is pinned
    env.doit("pin", "dev")
    drift = env.doit("status:dev", ok=False)
    assert drift.returncode != 0 and "pinned 1.0.1" in drift.stdout, drift.stdout
    env.doit("up:dev")
    third = env.containers(docker_client)
    assert third["web"] == second["web"]
    assert third["dev-worker-1"] != second["dev-worker-1"] and third["dev-worker-2"] != second["dev-worker-2"]

    # no secret value in anything Calvin wrote
    for path in list((env.root / "out").rglob("*")) + list((env.root / "configs").rglob("*")):
        if path.is_file():
            assert token not in path.read_text(errors="replace"), path

    # promote exactly what dev runs to prod, by digest; history names both environments
    env.doit("secrets", "prod")
    env.doit("promote", "dev", "prod")
    prod = (env.root / "configs" / "pins" / "prod.yaml").read_text()
    assert "promoted_from: dev" in prod
    for name in ("web", "worker"):
        dev_digest = re.search(rf"{name}:\n\s+version: \S+\n\s+digest: (\S+)", pins if name == "web" else
                               (env.root / "configs" / "pins" / "dev.yaml").read_text()).group(1)  # type: ignore[union-attr]
        assert dev_digest in prod
    history = env.doit("history").stdout
    assert re.search(r"worker\s+1\.0\.1\s.*passed\s+dev, prod", history), history
    assert re.search(r"worker\s+1\.0\.0\s.*passed\s+—", history), history

    down = env.doit("down:dev")
    assert "volumes kept" in down.stdout
    assert env.containers(docker_client) == {}
