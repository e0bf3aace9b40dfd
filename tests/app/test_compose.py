"""docker-compose.yml, the Dockerfile and the lock, checked without a Docker engine (issue 7)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli

PROJECT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = (PROJECT / "Dockerfile").read_text()
OURS = [name for name, service in SERVICES.items() if service["image"].startswith("clientdesk:")]


def test_our_services_run_one_image_built_once() -> None:
    assert sorted(OURS) == ["api", "migrate", "worker"]
    assert {SERVICES[name]["image"] for name in OURS} == {COMPOSE["x-clientdesk"]["image"]}
    builders = [name for name in OURS if "build" in SERVICES[name]]
    assert builders == ["migrate"]
    assert all(SERVICES[n]["pull_policy"] == "never" for n in OURS if n not in builders)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_long_running_service_is_restarted(name: str) -> None:
    expected = "no" if name == "migrate" else "unless-stopped"
    assert SERVICES[name].get("restart") == expected


@pytest.mark.parametrize("name", OURS)
def test_every_command_compose_runs_exists_in_the_cli(name: str) -> None:
    program, *args = SERVICES[name]["command"]
    assert program == "clientdesk"
    # Click rejects an unknown command or option before it answers --help.
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output


def test_the_worker_waits_for_the_database_redis_and_mail() -> None:
    waits_for = SERVICES["worker"]["depends_on"]
    assert waits_for["mail"] == {"condition": "service_healthy"}
    assert "healthcheck" in SERVICES["mail"]
    assert waits_for["migrate"] == {"condition": "service_completed_successfully"}
    assert waits_for["redis"] == {"condition": "service_healthy"}


def test_the_card_secret_comes_from_an_env_file_not_from_each_run() -> None:
    ours = COMPOSE["x-clientdesk"]
    assert ours["env_file"] == "clientdesk.env"
    assert "CC_ENCRYPTION_HASH" not in ours["environment"]
    assert "clientdesk.env" in (PROJECT / ".gitignore").read_text().split()
    assert "*.env" in (PROJECT / ".dockerignore").read_text().split()


def test_the_attachments_volume_belongs_to_the_app_user() -> None:
    ours = COMPOSE["x-clientdesk"]
    mount = next(v.split(":", 1)[1] for v in ours["volumes"] if v.startswith("attachments:"))
    assert ours["environment"]["ATTACHMENTS_DIR"] == mount
    assert f"mkdir -p {mount}" in DOCKERFILE
    assert re.search(r"chown -R clientdesk:clientdesk /srv/clientdesk\b", DOCKERFILE)
    assert mount.startswith("/srv/clientdesk/")
    assert DOCKERFILE.index("chown") < DOCKERFILE.index("USER clientdesk")


def test_clients_reach_the_api_through_a_proxy_with_timeouts() -> None:
    proxy = SERVICES["proxy"]
    config_file = proxy["volumes"][0].split(":")[0]
    config = (PROJECT / config_file).read_text()
    for directive in ("client_header_timeout", "client_body_timeout", "limit_conn"):
        assert re.search(rf"^\s*{directive}\s", config, re.MULTILINE), directive
    assert "ports" not in SERVICES["api"]
    address = proxy["networks"]["default"]["ipv4_address"]
    assert COMPOSE["x-clientdesk"]["environment"]["FORWARDED_ALLOW_IPS"] == address


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_image_installs_the_locked_dependencies() -> None:
    assert "pip install --no-deps -r /tmp/requirements.lock" in DOCKERFILE
    lines = (PROJECT / "requirements.lock").read_text().splitlines()
    locked = [line for line in lines if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==\S+", line) for line in locked), locked
    pinned = {normalised(line.split("==")[0]) for line in locked}
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert normalised(re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0]) in pinned
