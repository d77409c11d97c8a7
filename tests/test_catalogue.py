"""The shipped catalogue, end to end, against the real engine.

1. `doit` in this repository, as a user runs it, builds, smoke-tests and releases every resource
   in resources/ under a namespace of this session's own (everything made under it is removed
   afterwards).
2. The images it released run together as the build system the dev environment describes, brought
   up as the README says — `doit secrets dev`, `doit pin dev`, `doit up:dev` — in a copy of the
   repository, and driven through pytest-docker on the compose file `doit up:dev` rendered: the edge
   proxy routes to the
   build controller and the artefact repository, both executors connect to the controller,
   Prometheus scrapes its targets, a forced self-test build succeeds on an executor, and the
   sample project is pushed, built, tested and put into the artefact repository
   (tests/test_sample_build.py).

Every service reads the dev environment's values (configs/environments/dev.yaml) as Calvin passes
them, secrets as files under /run/secrets holding the random values `doit secrets dev` made.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from calvin_tasks.environments import Environment
from calvin_tasks.model import Project
from calvin_tasks.project import load_project
from catalogue_build import ENVIRONMENT, Catalogue, copy_of_the_repository
from helpers import ran, run_doit
from test_sample_build import build_sample

pytestmark = pytest.mark.engine

COMPOSE = "docker-compose"

# The shipped catalogue and how it hangs together.
PARENTS: dict[str, str | None] = {
    "debian": None,
    "base-linux": "debian",
    "build-controller": "base-linux",
    "build-executor": "base-linux",
    "artefact-repository": "base-linux",
    "edge-proxy": "base-linux",
    "metrics": "base-linux",
    "source-repository": "base-linux",
}
# Resources without a service check: the bases run no service, and the executor listens on no
# port (its smoke tests start it against an unreachable controller instead).
NO_SERVICE = {"debian", "base-linux", "build-executor"}
# The resources the compose file runs; CALVIN_IMAGE_<NAME> passes each one's image.
DEPLOYED = ["build-controller", "build-executor", "artefact-repository", "source-repository", "edge-proxy", "metrics"]
EXECUTORS_TIMEOUT = 90
SELF_TEST_TIMEOUT = 180


def test_the_catalogue_builds_tests_and_releases(catalogue: Catalogue, docker_client: Any) -> None:
    names = catalogue.names
    assert names == sorted(PARENTS), f"the shipped catalogue changed: {names}"
    print(f"\ndoit over the catalogue under {catalogue.namespace}: exit {catalogue.result.returncode} "
          f"in {catalogue.seconds:.0f} s")
    assert catalogue.result.returncode == 0, catalogue.explain()

    for step in ("build", "test", "release"):
        assert ran(catalogue.result, step) == names, f"{step} did not run for every resource\n{catalogue.explain()}"

    for name in names:
        report = catalogue.report(name)
        checks = report["checks"]
        assert report["passed"] is True, f"{name}: {[c for c in checks if not c['passed']]}"
        assert report["build_fingerprint"] == catalogue.project.fingerprints[name].build, name
        assert report["counts"]["failed"] == 0 and len(checks) >= 3, f"{name}: {report['counts']}"
        assert all(check["passed"] for check in checks), name
        services = [check["name"] for check in checks if check["kind"] == "service" and check["passed"]]
        if name not in NO_SERVICE:
            assert services, f"{name}: no passing service check among {[c['kind'] for c in checks]}"

    manifest = catalogue.manifest()
    assert manifest["namespace"] == catalogue.namespace
    entries = {entry["resource"]: entry for entry in manifest["resources"]}
    assert sorted(entries) == names
    for name, entry in entries.items():
        fingerprints = catalogue.project.fingerprints[name]
        parent = PARENTS[name]
        assert entry["released"] is True, entry
        assert entry["version"] == catalogue.project.resources[name].version, entry
        assert entry["fingerprint"] == fingerprints.build, entry
        assert entry["reference"] == f"{catalogue.namespace}/{name}:{entry['version']}", entry
        assert entry["parent"] == parent, entry
        assert entry["parent_fingerprint"] == (catalogue.project.fingerprints[parent].build if parent else None), entry
        assert entry["smoke_tests"] and entry["smoke_tests"]["passed"] is True, entry

    # For a human reading `pytest -s`: what the catalogue weighs.
    print(f"{'image':<76} {'size':>9}")
    for name in catalogue.project.order:
        image = docker_client.images.get(catalogue.image(name))
        version = docker_client.images.get(f"{catalogue.namespace}/{name}:{catalogue.project.resources[name].version}")
        assert version.id == image.id, f"{name}: the version tag and the content tag name different images"
        print(f"{catalogue.image(name):<76} {image.attrs['Size'] / 1e6:>6.1f} MB")


# -- the catalogue as a running build system (pytest-docker) --------------------------------------

@dataclass
class Deployment:
    """The dev environment as `doit up:dev` runs it, in a copy of this repository (pins and rendered
    files are written there, never into the repository itself)."""

    root: Path
    project_name: str
    compose_file: Path
    secrets: dict[str, str]  # secret name -> the value `doit secrets dev` made
    up: subprocess.CompletedProcess[str]
    up_seconds: float

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([COMPOSE, "-f", str(self.compose_file), "-p", self.project_name, *args],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def logs(self) -> str:
        result = self.compose("logs", "--no-color", "--timestamps", "--tail", "300")
        return result.stdout + result.stderr

    def ps(self) -> str:
        result = self.compose("ps")
        return result.stdout + result.stderr


def _environment(project: Project, name: str) -> Environment:
    for environment in project.environments:
        if isinstance(environment, Environment) and environment.name == name:
            return environment
    raise AssertionError(f"no environment '{name}' in configs/environments/")


@pytest.fixture(scope="session")
def deployment(catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`doit secrets dev`, `doit pin dev`, `doit up:dev` over the catalogue this session released —
    what the README tells a newcomer to run. Nothing is rebuilt: the copy has the same inputs."""
    if catalogue.result.returncode != 0:
        pytest.fail("the catalogue did not build, test and release; nothing to deploy\n" + catalogue.explain())
    folder = tmp_path_factory.mktemp("deployment")
    root = copy_of_the_repository(folder / "project", catalogue.namespace)
    project_name = f"{catalogue.namespace}-dev"
    env = {"CALVIN_SECRETS": str(folder / "secrets"), "CALVIN_COMPOSE_PROJECT": project_name,
           "CALVIN_OUTPUT": str(catalogue.output)}
    compose_file = catalogue.output / "environments" / ENVIRONMENT / "docker-compose.yml"

    def doit(*args: str) -> subprocess.CompletedProcess[str]:
        result = run_doit(root, *args, namespace=catalogue.namespace, env=env, timeout=900)
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    try:
        made = doit("secrets", ENVIRONMENT)
        assert made.returncode == 0, made.stdout + made.stderr
        pinned = doit("pin", ENVIRONMENT)
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
        started = time.monotonic()
        up = doit(f"up:{ENVIRONMENT}")
        up_seconds = time.monotonic() - started
        environment = _environment(load_project(root), ENVIRONMENT)
        from calvin_tasks.deploy import secrets as store

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CALVIN_SECRETS", env["CALVIN_SECRETS"])
            values = {name: store.path(environment, name).read_text().strip() for name in store.names(environment)}
        deployment = Deployment(root, project_name, compose_file, values, up, up_seconds)
        if up.returncode != 0:
            pytest.fail(f"doit up:{ENVIRONMENT} failed\n{up.stdout}\n{up.stderr}\n{deployment.logs()}")
        print(f"\ndoit up:{ENVIRONMENT}: every service healthy in {up_seconds:.1f} s")
        yield deployment
    finally:
        if compose_file.is_file():  # pytest-docker runs `down -v` after the tests, but not when `up` failed
            subprocess.run([COMPOSE, "-f", str(compose_file), "-p", project_name, "down", "-v", "--remove-orphans",
                            "--timeout", "10"], capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    return COMPOSE


@pytest.fixture(scope="session")
def docker_compose_file(deployment: Deployment) -> str:
    return str(deployment.compose_file)  # rendered by `doit up:dev`


@pytest.fixture(scope="session")
def docker_compose_project_name(deployment: Deployment) -> str:
    return deployment.project_name


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["up -d"]  # `doit up:dev` converged it already: compose finds every service up to date


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v"]


@dataclass
class System:
    services: Any  # pytest_docker's Services
    deployment: Deployment
    proxy: str
    prometheus: str
    http: requests.Session

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.http.get(url, timeout=10, **kwargs)

    def wait(self, what: str, check: Callable[[], Any], timeout: float, pause: float = 1.0) -> Any:
        """Retry `check` until it returns something true (which is returned), at most `timeout` s;
        its last answer or error goes into the failure."""
        last: list[str] = ["not tried"]
        result: list[Any] = []

        def attempt() -> bool:
            try:
                value = check()
            except (requests.RequestException, ValueError, KeyError, TypeError) as err:
                last[0] = f"{type(err).__name__}: {err}"
                return False
            if value:
                result.append(value)
                return True
            last[0] = "not yet"
            return False

        try:
            self.services.wait_until_responsive(check=attempt, timeout=timeout, pause=pause)
        except Exception as err:
            if "Timeout reached" not in str(err):
                raise
            raise AssertionError(f"{what}: not within {timeout:.0f} s; last: {last[0]}") from None
        return result[0]


@pytest.fixture
def system(docker_services: Any, deployment: Deployment, request: pytest.FixtureRequest) -> Iterator[System]:
    """The running system; a failing test prints the services' logs (left running until cleanup)."""
    failed_before = request.session.testsfailed
    try:
        proxy = f"http://127.0.0.1:{docker_services.port_for('edge-proxy', 8080)}"
        prometheus = f"http://127.0.0.1:{docker_services.port_for('metrics', 9090)}"
    except Exception:
        print(f"\n--- docker-compose ps\n{deployment.ps()}\n--- docker-compose logs\n{deployment.logs()}")
        raise
    with requests.Session() as http:
        http.trust_env = False  # 127.0.0.1 only: never through a proxy from the environment
        yield System(docker_services, deployment, proxy, prometheus, http)
    if request.session.testsfailed > failed_before:
        print(f"\n--- docker-compose ps\n{deployment.ps()}\n--- docker-compose logs\n{deployment.logs()}")


def _json(response: requests.Response, status: int = 200) -> Any:
    if response.status_code != status:
        raise ValueError(f"{response.request.method} {response.url} → {response.status_code}: {response.text[:300]}")
    return response.json()


def test_the_edge_proxy_answers_its_health_check(system: System) -> None:
    def healthy() -> bool:
        response = system.get(f"{system.proxy}/healthz")
        if response.status_code != 200:
            raise ValueError(f"/healthz → {response.status_code}: {response.text[:200]}")
        return response.text.strip() == "ok"

    system.wait("the edge proxy's /healthz answers ok", healthy, timeout=60)


def test_the_proxy_reaches_the_build_controller(system: System) -> None:
    def builders() -> list[str]:
        return [builder["name"] for builder in _json(system.get(f"{system.proxy}/api/v2/builders"))["builders"]]

    names = system.wait("the controller's /api/v2/builders through the proxy lists builders", builders, timeout=120)
    assert "executor-self-test" in names, names
    # the web UI too, with the dev environment's title
    page = system.get(f"{system.proxy}/")
    assert page.status_code == 200 and '"title": "Calvin CI (dev)"' in page.text, page.text[:500]


def test_the_proxy_reaches_the_artefact_repository(system: System) -> None:
    def registry() -> bool:
        response = system.get(f"{system.proxy}/v2/")
        if response.status_code != 200:
            raise ValueError(f"/v2/ → {response.status_code}: {response.text[:200]}")
        return bool(response.json() == {})

    system.wait("the registry's /v2/ through the proxy answers 200", registry, timeout=60)
    catalog = _json(system.get(f"{system.proxy}/v2/_catalog"))
    assert catalog == {"repositories": []}, catalog


def _connected_workers(system: System) -> dict[str, Any]:
    workers = _json(system.get(f"{system.proxy}/api/v2/workers"))["workers"]
    return {worker["name"]: worker for worker in workers if worker.get("connected_to")}


def test_both_executors_connect_to_the_controller(system: System) -> None:
    def both() -> dict[str, Any] | None:
        connected = _connected_workers(system)
        return connected if {"executor-1", "executor-2"} <= set(connected) else None

    connected = system.wait("executor-1 and executor-2 connected to the controller", both,
                            timeout=EXECUTORS_TIMEOUT, pause=2)
    assert sorted(connected) == ["executor-1", "executor-2"], sorted(connected)
    for worker in connected.values():
        assert "Calvin build executor" in str(worker.get("workerinfo", {}).get("admin")), worker


def test_prometheus_is_ready_and_scrapes_its_targets(system: System) -> None:
    def ready() -> bool:
        response = system.get(f"{system.prometheus}/-/ready")
        return response.status_code == 200 and "Ready" in response.text

    system.wait("Prometheus /-/ready", ready, timeout=60)

    def all_up() -> list[dict[str, Any]] | None:
        targets = _json(system.get(f"{system.prometheus}/api/v1/targets"))["data"]["activeTargets"]
        return targets if targets and all(target["health"] == "up" for target in targets) else None

    targets = system.wait("every Prometheus target up", all_up, timeout=90, pause=2)
    jobs = sorted(target["labels"]["job"] for target in targets)
    assert jobs == ["metrics", "prometheus"], jobs  # dev.yaml: metrics=localhost:9090, and itself


def test_a_forced_self_test_build_succeeds_on_an_executor(system: System) -> None:
    """The whole build system works: the admin forces the self-test build, an executor runs it.

    master.cfg: a ForceScheduler for the builder 'executor-self-test'; UserPasswordAuth with the
    one user 'admin' (password: controller_admin_password), the only one allowed to force."""
    forceschedulers = _json(system.get(f"{system.proxy}/api/v2/forceschedulers"))["forceschedulers"]
    found = [(scheduler["name"], builder) for scheduler in forceschedulers
             for builder in scheduler["builder_names"] if builder.endswith("self-test")]
    assert found, f"the controller has no force scheduler for a self-test builder: {forceschedulers}"
    scheduler, builder = found[0]
    admin_password = system.deployment.secrets["controller-admin-password"]

    # executors first: a forced build waits for a connected worker
    system.wait("both executors connected", lambda: {"executor-1", "executor-2"} <= set(_connected_workers(system)),
                timeout=EXECUTORS_TIMEOUT, pause=2)
    builder_id = next(b["builderid"] for b in _json(system.get(f"{system.proxy}/api/v2/builders"))["builders"]
                      if b["name"] == builder)
    rpc = {"jsonrpc": "2.0", "id": 1, "method": "force",
           "params": {"builderid": str(builder_id), "reason": "Calvin catalogue system test"}}

    anonymous = requests.post(f"{system.proxy}/api/v2/forceschedulers/{scheduler}", json=rpc, timeout=10)
    assert anonymous.status_code == 403, f"forcing without login: {anonymous.status_code} {anonymous.text[:300]}"
    wrong = system.get(f"{system.proxy}/auth/login", auth=("admin", "not-the-password"), allow_redirects=False)
    assert wrong.status_code == 401, wrong.status_code

    login = system.get(f"{system.proxy}/auth/login", auth=("admin", admin_password), allow_redirects=False)
    assert login.status_code in (200, 302), f"login as admin: {login.status_code} {login.text[:300]}"
    assert system.http.cookies, "no session cookie after logging in"

    forced = system.http.post(f"{system.proxy}/api/v2/forceschedulers/{scheduler}", json=rpc, timeout=30)
    answer = _json(forced)
    assert "error" not in answer, answer
    _, requests_by_builder = answer["result"]
    request_id = requests_by_builder[str(builder_id)] if str(builder_id) in requests_by_builder \
        else requests_by_builder[builder_id]

    def finished() -> dict[str, Any] | None:
        builds = _json(system.get(f"{system.proxy}/api/v2/buildrequests/{request_id}/builds"))["builds"]
        return next((build for build in builds if build["complete"]), None)

    build = system.wait(f"the forced {builder} build completes", finished, timeout=SELF_TEST_TIMEOUT, pause=2)
    workers = {w["workerid"]: w["name"] for w in _json(system.get(f"{system.proxy}/api/v2/workers"))["workers"]}
    steps = _json(system.get(f"{system.proxy}/api/v2/builds/{build['buildid']}/steps"))["steps"]
    summary = [(step["name"], step["results"], step["state_string"]) for step in steps]
    assert build["results"] == 0, f"build {build['number']} result {build['results']}: {summary}"
    assert workers[build["workerid"]] in {"executor-1", "executor-2"}, (build, workers)
    print(f"\n{builder} build {build['number']} succeeded on {workers[build['workerid']]}: {summary}")


def test_the_sample_project_builds_end_to_end(system: System) -> None:
    """The build system builds: samples/hello pushed into the source repository through the edge
    proxy, built, tested and put into the artefact repository by the controller's sample-hello
    build on an executor, fetched back by digest (tests/test_sample_build.py says how)."""
    result = build_sample(system.proxy, system.deployment.secrets["controller-admin-password"],
                          system.deployment.secrets["source-repository-push-password"])
    assert result.worker in {"executor-1", "executor-2"}, result
    print(f"\nsample-hello build {result.number} succeeded on {result.worker} in {result.seconds:.1f} s "
          f"(the controller says {result.build_seconds} s); artefact {result.path}")
