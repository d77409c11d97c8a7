"""The build system on a real two-node swarm: the catalogue this session built (the `catalogue`
fixture, shared with tests/test_catalogue.py — never built twice) is released to a registry both
nodes reach, the dev environment is deployed with `deploy: swarm` and its executors placed on the
second node, and the sample build (tests/test_sample_build.py) runs through it. Then the second
node's engine stops: Swarm reschedules the executors on the first node and a second sample build
still succeeds. Everything made is removed afterwards, also on failure.

The registry: one storage folder served twice — on 127.0.0.1 for the host's engine, which holds
the catalogue and treats loopback registries as plain HTTP, and on the cluster's bridge for the
nodes (their engines list it as insecure). The same storage gives the same digests on both.
The measured times are printed (run with -s).
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml

import swarm_nodes
from catalogue_build import ENVIRONMENT, Catalogue, copy_of_the_repository, free_port
from helpers import RegistryProcess, ran, registry_installed, run_doit
from test_sample_build import build_sample

pytestmark = pytest.mark.engine

EXECUTORS = ("executor-1", "executor-2")


class Deployment:
    def __init__(self, catalogue: Catalogue, root: Path, cluster: swarm_nodes.Cluster, push: RegistryProcess,
                 pull: RegistryProcess, secrets: Path) -> None:
        self.catalogue, self.root, self.cluster = catalogue, root, cluster
        self.manager = cluster.nodes[0]
        self.stack = f"{catalogue.namespace}-dev"
        self.push, self.pull, self.secrets = push, pull, secrets
        self.env = {"CALVIN_OUTPUT": str(catalogue.output), "CALVIN_SECRETS": str(secrets),
                    "CALVIN_COMPOSE_PROJECT": self.stack,
                    "CALVIN_INSECURE_REGISTRIES": f"{push.address},{pull.address}"}

    def doit(self, *args: str, registry: RegistryProcess, manager: bool = False) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, CALVIN_REGISTRY=registry.address)
        if manager:  # deploy, status, down: against the swarm's manager
            env["DOCKER_HOST"] = self.manager.host
        result = run_doit(self.root, *args, namespace=self.catalogue.namespace, env=env, timeout=900)
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        assert result.returncode == 0, f"doit {' '.join(args)}\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        return result

    def running_on(self, node: str) -> set[str]:
        """The services with a task running on `node`, as the manager sees it."""
        listing = self.manager.docker("stack", "ps", self.stack, "--filter", "desired-state=running",
                                      "--format", "{{.Name}} {{.Node}} {{.CurrentState}}", check=False).stdout
        return {line.split()[0].split(".")[0][len(self.stack) + 1:] for line in listing.splitlines()
                if len(line.split()) >= 3 and line.split()[1] == node and line.split()[2] == "Running"}

    def secret(self, name: str) -> str:
        return (self.secrets / ENVIRONMENT / name).read_text().strip()

    def proxy(self) -> str:
        dev = yaml.safe_load((self.root / "configs" / "environments" / f"{ENVIRONMENT}.yaml").read_text())
        port = str(dev["services"]["edge-proxy"]["publish"][8080]).rsplit(":", 1)[-1]
        return f"http://{self.manager.address}:{port}"

    def sample(self) -> str:
        result = build_sample(self.proxy(), self.secret("controller-admin-password"),
                              self.secret("source-repository-push-password"))
        return result.worker


def swarm_copy(catalogue: Catalogue, target: Path) -> Path:
    """The repository's dev environment with `deploy: swarm`: the executors on nodes labelled
    executors=true, everything else (it keeps its volumes, the edge proxy publishes) on the manager."""
    root = copy_of_the_repository(target, catalogue.namespace)
    dev = root / "configs" / "environments" / f"{ENVIRONMENT}.yaml"
    data = yaml.safe_load(dev.read_text())
    data["deploy"] = "swarm"
    for name, service in data["services"].items():
        where = "node.labels.executors == true" if name == "build-executor" else "node.role == manager"
        data["services"][name] = {**(service or {}), "placement": {"constraints": [where]}}
    dev.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


@pytest.fixture
def deployment(catalogue: Catalogue, tmp_path: Path) -> Iterator[Deployment]:
    if catalogue.result.returncode != 0:
        pytest.fail("the catalogue did not build, test and release; nothing to deploy\n" + catalogue.explain())
    why = swarm_nodes.possible()
    if why:
        pytest.skip(f"a two-node swarm cannot be made here: {why}")
    if not registry_installed():
        pytest.skip("docker-registry (Debian's Docker Distribution) is not installed: `make registry`")
    pull_port = free_port()
    cluster = swarm_nodes.Cluster(tmp_path, pull_port)
    push = RegistryProcess(tmp_path / "registry", free_port())
    (tmp_path / "registry-nodes").mkdir()
    (tmp_path / "registry-nodes" / "data").symlink_to(tmp_path / "registry" / "data")  # the same storage
    pull = RegistryProcess(tmp_path / "registry-nodes", pull_port, host=f"{cluster.prefix}.1")
    try:
        cluster.start()
        push.start()
        pull.start()
        yield Deployment(catalogue, swarm_copy(catalogue, tmp_path / "project"), cluster, push, pull,
                         tmp_path / "secrets")
    finally:
        pull.stop()
        push.stop()
        cluster.close()


def test_the_sample_builds_on_a_two_node_swarm_and_again_after_a_node_is_lost(deployment: Deployment) -> None:
    d = deployment
    timings: list[str] = []

    def note(what: str, started: float) -> None:
        timings.append(f"{what}: {time.monotonic() - started:.1f} s")
        print(f"[swarm catalogue] {timings[-1]}")

    started = time.monotonic()
    released = d.doit(registry=d.push)  # nothing built or tested again: the catalogue's images, pushed
    assert ran(released, "build") == [] and ran(released, "test") == [], released.stdout[-4000:]
    assert ran(released, "release") == d.catalogue.names, released.stdout[-4000:]
    note("catalogue released to the cluster's registry", started)

    d.doit("secrets", ENVIRONMENT, registry=d.pull)
    d.doit("pin", ENVIRONMENT, registry=d.pull)
    pins = (d.root / "configs" / "pins" / f"{ENVIRONMENT}.yaml").read_text()
    assert re.search(rf"image: {re.escape(d.pull.address)}/\S+/build-executor@sha256:[0-9a-f]{{64}}", pins), pins
    d.manager.docker("node", "update", "--label-add", "executors=true", "node-2")

    started = time.monotonic()
    up = d.doit(f"up:{ENVIRONMENT}", registry=d.pull, manager=True)
    note("dev deployed on two nodes (pulls included)", started)
    for executor in EXECUTORS:
        assert re.search(rf"{executor}\s+build-executor \S+ \(sha256:[0-9a-f]{{12}}\) → none on node-2", up.stdout), \
            up.stdout
    assert re.search(r"build-controller\s+build-controller \S+ \(sha256:[0-9a-f]{12}\) → healthy on node-1",
                     up.stdout), up.stdout

    started = time.monotonic()
    assert d.sample() in EXECUTORS
    note("first sample build (executors on node-2)", started)

    # node-2's engine stops: the executors come back on node-1, and the build system still builds
    d.manager.docker("node", "update", "--label-add", "executors=true", "node-1")
    started = time.monotonic()
    d.cluster.nodes[1].stop()
    deadline = time.monotonic() + 300
    while not set(EXECUTORS) <= d.running_on("node-1"):
        assert time.monotonic() < deadline, f"the executors did not come back on node-1: {d.running_on('node-1')}"
        time.sleep(1)
    note("executors running on node-1 after node-2's engine stopped", started)
    started = time.monotonic()
    assert d.sample() in EXECUTORS
    note("second sample build (executors on node-1)", started)
    status = d.doit(f"status:{ENVIRONMENT}", registry=d.pull, manager=True).stdout
    for executor in EXECUTORS:
        assert re.search(rf"{executor}\s+build-executor \S+ \(sha256:[0-9a-f]{{12}}\) running, none on node-1",
                         status), status
    (d.root / "swarm-catalogue-timings.txt").write_text("\n".join(timings) + "\n")
    d.doit(f"down:{ENVIRONMENT}", registry=d.pull, manager=True)
