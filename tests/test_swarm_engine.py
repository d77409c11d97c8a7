"""An environment on a real two-node Docker Swarm (`deploy: swarm`): two dockerds, each in a network
namespace of its own (tests/swarm_nodes.py), a registry both reach, the tiny busybox resources of
tests/busybox_services.py. Calvin runs as an operator on the manager (inside node-1's namespace).

Deploy with the workers placed on node-2 → status names the nodes → a new worker pin rolls only the
workers → a rotated secret is a new Swarm object, the old one removed → a changed file value is a
new Swarm config: only web rolls, the old config removed → a value that breaks the
health check is rolled back and `doit up` fails naming the service → node-2's engine stops and
Swarm reschedules the workers on node-1 while the web page keeps answering → down removes it all.
The measured times are printed (run with -s) and written to out/swarm-timings.txt of the project.
"""
from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

import swarm_nodes
from busybox_services import free_port, web_and_worker
from helpers import DOIT, RegistryProcess, make_project, ran, registry_installed

pytestmark = pytest.mark.engine

ENVIRONMENT = """description: dev on a two-node swarm
deploy: swarm
services:
  web: {{publish: {{8080: "{port}"}}, placement: {{constraints: [node.role == manager]}}}}
  worker: {{instances: [dev-worker-1, dev-worker-2], placement: {{constraints: [node.labels.executors == true]}}}}
values:
  greeting: {greeting}
  web_token: {{secret: web-token}}
  web_motd: {{file: files/motd.txt}}
"""


def project_files(port: int) -> dict[str, Any]:
    return {**web_and_worker(check_timeout=10), "configs/environments/files/motd.txt": "first message\n",
            "configs/environments/dev.yaml": ENVIRONMENT.format(port=port, greeting="hello swarm")}


class Operator:
    """doit as a person on the manager runs it: inside node-1's network namespace, DOCKER_HOST its engine."""

    def __init__(self, root: Path, cluster: swarm_nodes.Cluster, registry: RegistryProcess, namespace: str,
                 secrets: Path, port: int) -> None:
        self.root, self.cluster, self.port = root, cluster, port
        self.manager = cluster.nodes[0]
        self.stack = f"{namespace}-dev"
        self.env = {"CALVIN_NAMESPACE": namespace, "PYTHONUNBUFFERED": "1", "DOCKER_HOST": self.manager.host,
                    "CALVIN_REGISTRY": registry.address, "CALVIN_INSECURE_REGISTRIES": registry.address,
                    "CALVIN_SECRETS": str(secrets), "CALVIN_COMPOSE_PROJECT": self.stack}
        self.timings: list[str] = []

    def doit(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        import os

        command = ["nsenter", f"--net=/var/run/netns/{self.manager.netns}", *DOIT, *args]
        result = subprocess.run(command, cwd=self.root, env=dict(os.environ, **self.env), capture_output=True,
                                text=True, timeout=600, stdin=subprocess.DEVNULL)
        if ok:
            assert result.returncode == 0, f"doit {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    def timed(self, what: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        result = self.doit(*args, ok=ok)
        self.note(what, time.monotonic() - started)
        return result

    def note(self, what: str, seconds: float) -> None:
        self.timings.append(f"{what}: {seconds:.1f} s")
        print(f"[swarm] {what}: {seconds:.1f} s")

    def tasks(self) -> dict[str, tuple[str, str, str]]:
        """service → (task id, node, state) of the task Swarm wants running."""
        listing = self.manager.docker("stack", "ps", self.stack, "--filter", "desired-state=running", "--no-trunc",
                                      "--format", "{{.Name}} {{.ID}} {{.Node}} {{.CurrentState}}").stdout
        found = {}
        for line in listing.splitlines():
            name, task, node, state = line.split()[:4]
            found[name.split(".")[0][len(self.stack) + 1:]] = (task, node, state)
        return found

    def page(self, path: str = "") -> str:
        url = f"http://{self.manager.address}:{self.port}/{path}"
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310
            return str(response.read().decode())

    def secrets(self, kind: str = "secret") -> list[str]:
        return self.manager.docker(kind, "ls", "--format", "{{.Name}}").stdout.split()


@pytest.fixture
def operator(tmp_path: Path, namespace: str) -> Iterator[Operator]:
    why = swarm_nodes.possible()
    if why:
        pytest.skip(f"a two-node swarm cannot be made here: {why}")
    if not registry_installed():
        pytest.skip("docker-registry (Debian's Docker Distribution) is not installed: `make registry`")
    port, web_port = free_port(), free_port()
    cluster = swarm_nodes.Cluster(tmp_path, port)
    registry = RegistryProcess(tmp_path / "registry", port, host=f"{cluster.prefix}.1")
    root = make_project(tmp_path / "project", project_files(web_port))
    try:
        started = time.monotonic()
        cluster.start()
        registry.start()
        found = Operator(root, cluster, registry, namespace, tmp_path / "secrets", web_port)
        found.note("two engines started and joined", time.monotonic() - started)
        yield found
        (root / "out").mkdir(exist_ok=True)
        (root / "out" / "swarm-timings.txt").write_text("\n".join(found.timings) + "\n")
    finally:
        registry.stop()
        cluster.close()


def answers_again(op: Operator, seconds: float) -> bool:
    """The page answers as before (a rolled-back task with a host port restarts: stop-first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if op.page() == "hello swarm from web\n":
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def test_an_environment_runs_on_two_swarm_nodes_rolls_and_survives_a_node(operator: Operator) -> None:
    op = operator
    op.manager.docker("node", "update", "--label-add", "executors=true", "node-2")
    assert sorted(ran(op.doit(), "release")) == ["web", "worker"]
    op.doit("secrets", "dev")
    op.doit("pin", "dev")
    pins = (op.root / "configs" / "pins" / "dev.yaml").read_text()
    assert re.search(r"image: 10\.231\.\d+\.1:\d+/\S+/web@sha256:[0-9a-f]{64}", pins), pins

    up = op.timed("deploy on two nodes (doit up:dev)", "up:dev")
    assert re.search(r"dev-worker-1\s+worker 1\.0\.0 \(sha256:[0-9a-f]{12}\) → none on node-2", up.stdout), up.stdout
    assert re.search(r"web\s+web 1\.0\.0 \(sha256:[0-9a-f]{12}\) → healthy on node-1", up.stdout), up.stdout
    assert op.page() == "hello swarm from web\n"
    status = op.doit("status:dev").stdout
    print(status)
    assert re.search(r"dev-worker-2\s+worker 1\.0\.0 \(sha256:[0-9a-f]{12}\) running, none on node-2", status), status
    assert "as pinned" in status
    stack_file = (op.root / "out" / "environments" / "dev" / "stack.yml").read_text()
    token = (op.root.parent / "secrets" / "dev" / "web-token").read_text()
    assert token not in stack_file and "endpoint_mode: dnsrr" in stack_file and "mode: host" in stack_file
    first = op.tasks()
    assert op.doit("up:dev").returncode == 0 and op.tasks() == first  # a no-op deploy replaces nothing

    # a new worker release, pinned: exactly the workers roll
    worker = op.root / "resources" / "worker"
    (worker / "Dockerfile").write_text((worker / "Dockerfile").read_text() + "LABEL note=second\n")
    (worker / "resource.yaml").write_text((worker / "resource.yaml").read_text().replace("1.0.0", "1.0.1"))
    assert ran(op.doit(), "release") == ["worker"]
    op.doit("pin", "dev")
    assert "worker 1.0.1" in op.timed("rolling update of one resource (2 worker services)", "up:dev").stdout
    second = op.tasks()
    assert second["web"] == first["web"]
    assert all(second[w][0] != first[w][0] and second[w][1] == "node-2" for w in ("dev-worker-1", "dev-worker-2"))

    # a rotated secret is a new Swarm object: web rolls, the old object is removed
    old = [name for name in op.secrets() if "web-token" in name]
    (op.root.parent / "secrets" / "dev" / "web-token").write_text("rotated-" + token)
    op.timed("rolling update after a rotated secret (web)", "up:dev")
    new = [name for name in op.secrets() if "web-token" in name]
    assert len(old) == len(new) == 1 and old != new
    third = op.tasks()
    assert third["web"][0] != second["web"][0] and op.page() == "hello swarm from web\n"

    # a changed file value is a new Swarm config: only web (which reads it) rolls, the old config goes
    old = [name for name in op.secrets("config") if "web_motd" in name]
    assert op.page("motd.txt") == "first message\n" and "configs:" in stack_file
    assert re.fullmatch(rf"{op.stack}_web_motd-[0-9a-f]{{12}}", old[0]), old
    (op.root / "configs" / "environments" / "files" / "motd.txt").write_text("second message\n")
    rolled = op.timed("rolling update after a changed file value (web)", "up:dev")
    new = [name for name in op.secrets("config") if "web_motd" in name]
    assert len(old) == len(new) == 1 and old != new, (old, new)
    assert f"removed unused swarm config {old[0]}" in rolled.stdout, rolled.stdout
    fourth = op.tasks()
    assert fourth["web"][0] != third["web"][0]
    assert all(fourth[w] == third[w] for w in ("dev-worker-1", "dev-worker-2"))
    assert op.page("motd.txt") == "second message\n"

    # a value that fails the health check: rolled back, `doit up` fails naming the service
    environment = op.root / "configs" / "environments" / "dev.yaml"
    good = environment.read_text()
    environment.write_text(good.replace("greeting: hello swarm", "greeting: break"))
    failed = op.timed("failed update until rolled back", "up:dev", ok=False)
    assert failed.returncode != 0 and re.search(r"web failed — web: update rolled back", failed.stdout), failed.stdout
    assert answers_again(op, 60), "web does not answer with its old value after the rollback"
    environment.write_text(good)

    # node-2's engine stops: the workers come back on node-1, the page keeps answering
    op.manager.docker("node", "update", "--label-add", "executors=true", "node-1")
    assert {op.tasks()[w][1] for w in ("dev-worker-1", "dev-worker-2")} == {"node-2"}  # nothing moves by itself
    lost = asked = 0
    stopped = time.monotonic()
    op.cluster.nodes[1].stop()
    while time.monotonic() - stopped < 180:
        asked += 1
        try:
            if op.page() != "hello swarm from web\n":
                lost += 1
        except OSError:
            lost += 1
        try:
            now = op.tasks()
        except (subprocess.CalledProcessError, ValueError):  # the manager busy with the lost node: ask again
            time.sleep(0.5)
            continue
        if all(now.get(w, ("", "", ""))[1] == "node-1" and now[w][2].startswith("Running")
               for w in ("dev-worker-1", "dev-worker-2")):
            break
        time.sleep(0.5)
    op.note("workers back on node-1 after node-2's engine stopped", time.monotonic() - stopped)
    op.timings.append(f"web page requests failed during the node loss: {lost} of {asked}")
    print(f"[swarm] web page requests failed during the node loss: {lost} of {asked}")
    # (web runs on node-1 and is measured, not required: a loaded machine may time a request out)
    assert answers_again(op, 60)
    status = op.doit("status:dev").stdout
    assert re.search(r"dev-worker-1\s+worker 1\.0\.1 \(sha256:[0-9a-f]{12}\) running, none on node-1", status), status

    down = op.doit("down:dev")
    assert "stopped" in down.stdout
    assert op.manager.docker("stack", "ls", "--format", "{{.Name}}").stdout.split() == []
    assert [name for name in op.secrets() if name.startswith(op.stack)] == []
    assert [name for name in op.secrets("config") if name.startswith(op.stack)] == []
