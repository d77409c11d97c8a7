"""Registry credentials are read where `docker login` puts them, and an htpasswd registry
without (or with a wrong) login is named in one message."""
from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from calvin_tasks.credentials import CredentialsError, lookup
from calvin_tasks.errors import RegistryUnavailable
from calvin_tasks.registry import Registry
from helpers import Credentials as ServerLogin, registry_installed, start_registry


def _config(folder: Path, data: dict[str, object]) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(data))
    return {"DOCKER_CONFIG": str(folder), "PATH": os.environ["PATH"]}


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_inline_login_as_docker_login_writes_it(tmp_path: Path) -> None:
    env = _config(tmp_path / "docker", {"auths": {"127.0.0.1:5000": {"auth": _auth("calvin", "s3:cr3t")}}})

    found = lookup("127.0.0.1:5000", env)

    assert found is not None and (found.user, found.password) == ("calvin", "s3:cr3t")
    assert found.source == str(tmp_path / "docker" / "config.json")
    assert "s3:cr3t" not in repr(found)
    assert lookup("127.0.0.1:5001", env) is None


def test_a_url_key_matches_its_host(tmp_path: Path) -> None:
    env = _config(tmp_path / "docker", {"auths": {"https://registry.example:443/v1/": {"auth": _auth("u", "p")}}})

    found = lookup("registry.example:443", env)

    assert found is not None and found.user == "u"


def test_home_docker_config_when_docker_config_is_unset(tmp_path: Path) -> None:
    _config(tmp_path / ".docker", {"auths": {"r:1": {"auth": _auth("home", "pw")}}})

    found = lookup("r:1", {"HOME": str(tmp_path)})

    assert found is not None and found.user == "home"


def test_no_config_file_is_no_login(tmp_path: Path) -> None:
    assert lookup("127.0.0.1:5000", {"DOCKER_CONFIG": str(tmp_path / "absent")}) is None


def test_a_broken_login_says_how_to_fix_it(tmp_path: Path) -> None:
    env = _config(tmp_path / "docker", {"auths": {"r:1": {"auth": "not-base64!"}}})

    with pytest.raises(CredentialsError, match=r"config.json: the login for r:1 is not base64 of user:password — run `docker login r:1` again"):
        lookup("r:1", env)


def test_a_credential_helper_is_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helpers = tmp_path / "bin"
    helpers.mkdir()
    helper = helpers / "docker-credential-calvintest"
    helper.write_text('#!/bin/sh\n[ "$1" = get ] || exit 2\nread server\n'
                      '[ "$server" = "r:1" ] || { echo "credentials not found in native keychain"; exit 1; }\n'
                      'printf \'{"ServerURL":"%s","Username":"helped","Secret":"from-helper"}\' "$server"\n')
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    env = _config(tmp_path / "docker", {"credsStore": "calvintest", "auths": {"r:1": {}}})
    monkeypatch.setenv("PATH", f"{helpers}:{os.environ['PATH']}")  # helpers are found as docker finds them

    found = lookup("r:1", env)

    assert found is not None and (found.user, found.password, found.source) == (
        "helped", "from-helper", "docker-credential-calvintest")
    assert lookup("r:2", env) is None


def test_a_missing_credential_helper_is_named(tmp_path: Path) -> None:
    env = _config(tmp_path / "docker", {"credHelpers": {"r:1": "nosuchhelper"}})

    with pytest.raises(CredentialsError, match="docker-credential-nosuchhelper is not installed"):
        lookup("r:1", env)


@pytest.mark.skipif(not registry_installed(), reason="docker-registry is not installed: `make registry`")
def test_an_htpasswd_registry_is_read_with_the_login_and_names_a_missing_one(tmp_path: Path) -> None:
    login = ServerLogin("calvin", "right-password")
    server = start_registry(tmp_path / "registry", credentials=login)
    try:
        env = _config(tmp_path / "docker", {"auths": {server.address: {"auth": _auth("calvin", "right-password")}}})
        found = lookup(server.address, env)
        Registry(server.address, credentials=found).ping()
        assert Registry(server.address, credentials=found).image("calvin/absent", "1.0.0") is None

        with pytest.raises(RegistryUnavailable) as missing:
            Registry(server.address).ping()
        assert str(missing.value) == f"the registry at {server.address} needs a login: docker login {server.address}"

        wrong = lookup(server.address, _config(tmp_path / "wrong", {"auths": {server.address: {
            "auth": _auth("calvin", "wrong")}}}))
        with pytest.raises(RegistryUnavailable, match=rf"refused the login of 'calvin' .*docker login {server.address}"):
            Registry(server.address, credentials=wrong).image("calvin/absent", "1.0.0")
    finally:
        server.stop()
