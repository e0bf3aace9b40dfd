"""docker-compose.yml, deploy/ (nginx), the Dockerfile and the lock, checked without a Docker
engine (issues 7 and 19); nginx itself checks the nginx configuration where it is installed."""

from __future__ import annotations

import datetime
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings

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


# --- Compose as shipped (issue 19): settings from clientdesk.env, secrets, health, exposure.

DEPLOY = PROJECT / "deploy"
ENV_EXAMPLE = DEPLOY / "clientdesk.env.example"
SECRETS = ("CC_ENCRYPTION_HASH", "CARD_ENCRYPTION_KEYS", "INBOUND_EMAIL_SECRET", "METRICS_TOKEN")


def env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_settings_in_clientdesk_env_are_not_overridden_by_the_compose_file() -> None:
    # Compose lets `environment:` win over `env_file`: nothing the env file sets may be there.
    example = env_file(ENV_EXAMPLE)
    fixed = COMPOSE["x-clientdesk"]["environment"]
    assert not set(fixed) & set(example)
    for name in ("DATABASE_URL", "REDIS_URL", "SMTP_URL", "PUBLIC_URL", "ENVIRONMENT", *SECRETS):
        assert name in example and name not in fixed, name
    for name in OURS:
        assert "environment" not in SERVICES[name] or SERVICES[name]["environment"] == fixed


def test_init_env_writes_every_secret_and_one_database_password(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    for name in ("init-env", "clientdesk.env.example"):
        shutil.copy(DEPLOY / name, tmp_path / "deploy" / name)
    init_env = tmp_path / "deploy" / "init-env"
    subprocess.run([init_env], check=True, capture_output=True)
    written = env_file(tmp_path / "clientdesk.env")
    settings = Settings.model_validate({key.lower(): value for key, value in written.items()})
    assert all(written[name] for name in SECRETS)
    assert settings.card_keyring() is not None  # cards and 2FA work, not NOT_CONFIGURED
    password = env_file(tmp_path / "postgres.env")["POSTGRES_PASSWORD"]
    assert len(password) >= 32
    assert urlsplit(settings.database_url).password == password
    assert stat.S_IMODE((tmp_path / "clientdesk.env").stat().st_mode) == 0o600
    # A second run would replace the keys to the stored cards: it refuses.
    again = subprocess.run([init_env], capture_output=True)
    assert again.returncode != 0
    assert env_file(tmp_path / "clientdesk.env") == written


def test_the_database_password_is_no_literal_of_the_compose_file() -> None:
    postgres = SERVICES["postgres"]
    assert "POSTGRES_PASSWORD" not in postgres.get("environment", {})
    assert postgres["env_file"] == "postgres.env"
    assert "postgres.env" in (PROJECT / ".gitignore").read_text().split()
    assert not re.search(r"://[^:/@\s]+:[^@\s]+@", (PROJECT / "docker-compose.yml").read_text())


def test_every_long_running_service_has_a_health_check() -> None:
    assert re.search(r"^HEALTHCHECK .*CMD .*/readyz", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert "PORT" in DOCKERFILE.split("HEALTHCHECK", 1)[1]
    worker_check = SERVICES["worker"]["healthcheck"]["test"]
    assert worker_check == ["CMD", "clientdesk", "worker", "--check"]
    assert CliRunner().invoke(cli, [*worker_check[2:], "--help"]).exit_code == 0
    assert SERVICES["migrate"]["healthcheck"] == {"disable": True}
    assert "healthcheck" not in SERVICES["api"]  # the image's /readyz check
    for name in ("postgres", "redis", "mail"):
        assert "healthcheck" in SERVICES[name], name


def test_only_the_proxy_is_published_beyond_this_host() -> None:
    for name, service in SERVICES.items():
        if name != "proxy":
            for port in service.get("ports", []):
                assert str(port).startswith("127.0.0.1:"), (name, port)
    assert "127.0.0.1:8025:8025" in SERVICES["mail"]["ports"]


# --- deploy/nginx.conf, read as nginx reads it.

Directive = tuple[str, list[str], list[Any] | None]


def nginx_tree(path: Path, include_dir: Path = DEPLOY) -> list[Directive]:
    """The directives of an nginx file, `include`s expanded (relative to `include_dir`)."""
    text = re.sub(r"#[^\n]*", "", path.read_text())
    tokens = re.findall(r'"[^"]*"|[{};]|[^\s{};"]+', text)
    stack: list[list[Any]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == ";" and words[0] == "include":
            for included in sorted(include_dir.glob(words[1])):
                stack[-1].extend(nginx_tree(included, include_dir))
            words = []
        elif token == ";":
            stack[-1].append((words[0], words[1:], None))
            words = []
        elif token == "{":
            block: list[Any] = []
            stack[-1].append((words[0], words[1:], block))
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token.strip('"'))
    return stack[0]


def find(tree: list[Directive], name: str) -> list[Directive]:
    found = [d for d in tree if d[0] == name]
    return found + [d for _, _, block in tree if block for d in find(block, name)]


NGINX = nginx_tree(DEPLOY / "nginx.conf")
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "s": 1}


def size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmgs]?)", value.lower()).groups()  # type: ignore[union-attr]
    return int(number) * UNITS[unit]


def proxying_locations(tree: list[Directive]) -> list[Directive]:
    return [d for d in find(tree, "location") if d[2] and find(d[2], "proxy_pass")]


def test_nginx_takes_the_largest_upload_the_api_accepts() -> None:
    [(_, [limit], _)] = find(NGINX, "client_max_body_size")
    upload_limit = Settings.model_fields["max_upload_bytes"].default
    assert size(limit) > upload_limit
    assert size(limit) > int(env_file(ENV_EXAMPLE)["MAX_UPLOAD_BYTES"])


def test_nginx_waits_longer_than_run_automation() -> None:
    wait = Settings.model_fields["automation_wait_seconds"].default
    locations = proxying_locations(NGINX)
    assert locations
    for _, _, block in locations:
        [(_, [timeout], _)] = find(block or [], "proxy_read_timeout")
        assert size(timeout) > wait
        assert size(timeout) > float(env_file(ENV_EXAMPLE)["AUTOMATION_WAIT_SECONDS"])


def test_nginx_resolves_the_api_at_request_time_through_dockers_dns() -> None:
    [(_, resolver, _)] = find(NGINX, "resolver")
    assert resolver[0] == "127.0.0.11"
    valid = next(arg.split("=")[1] for arg in resolver if arg.startswith("valid="))
    assert size(valid) <= 30
    for _, _, block in proxying_locations(NGINX):
        [(_, [target], _)] = find(block or [], "proxy_pass")
        variable = re.fullmatch(r"http://\$(\w+)", target)
        assert variable, f"{target}: a literal name is resolved once, at start-up"
        assert ("set", [f"${variable[1]}", "api:8000"], None) in (block or [])
    assert not find(NGINX, "upstream")


def location_for(tree: list[Directive], uri: str) -> list[Directive]:
    """The block of the location nginx picks for `uri` in the first server: exact and regex
    locations before plain prefixes, the longest of those (no `^~` here)."""
    server: list[Directive] = find(tree, "server")[0][2] or []
    locations = [(args, block or []) for name, args, block in server if name == "location"]
    for args, block in locations:
        if args[0] in ("~", "~*") and re.search(args[1], uri, re.I if args[0] == "~*" else 0):
            return block
        if args[0] == "=" and args[1] == uri:
            return block
    prefixes = [(args[-1], block) for args, block in locations if args[0] not in ("~", "~*", "=")]
    return max((p for p in prefixes if uri.startswith(p[0])), key=lambda p: len(p[0]))[1]


@pytest.mark.parametrize("uri", ["/metrics", "/metrics/", "/metrics/x"])
def test_nginx_does_not_publish_metrics(uri: str) -> None:
    block = location_for(NGINX, uri)
    assert not find(block, "proxy_pass")
    assert ("return", ["404"], None) in block or ("deny", ["all"], None) in block
    assert find(location_for(NGINX, "/graphql"), "proxy_pass")


def test_the_tls_example_is_a_server_for_the_mounted_certificates() -> None:
    example = DEPLOY / "clientdesk.d" / "tls.conf.example"
    [(_, listen, block)] = find(nginx_tree(example), "server")
    assert listen == [] and ("listen", ["443", "ssl"], None) in (block or [])
    certificates = [args[0] for name, args, _ in block or [] if name.startswith("ssl_certificate")]
    assert len(certificates) == 2
    assert all(path.startswith("/etc/nginx/certs/") for path in certificates)
    assert "./deploy/certs:/etc/nginx/certs:ro" in SERVICES["proxy"]["volumes"]
    assert "8443:443" in SERVICES["proxy"]["ports"]
    assert proxying_locations(block or [])


def self_signed_certificate(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


# Debian installs it in /usr/sbin, which a non-login PATH may lack.
NGINX_PROGRAM = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


@pytest.mark.skipif(not NGINX_PROGRAM, reason="nginx is not installed (.ci/run installs it)")
def test_nginx_accepts_the_shipped_configuration_with_tls(tmp_path: Path) -> None:
    # Laid out as the proxy container sees /etc/nginx, TLS turned on as its example says.
    for volume in SERVICES["proxy"]["volumes"]:
        source, target = volume.split(":")[:2]
        if Path(PROJECT / source).is_file():
            shutil.copy(PROJECT / source, tmp_path / Path(target).name)
    (tmp_path / "clientdesk.d").mkdir()
    tls = (DEPLOY / "clientdesk.d" / "tls.conf.example").read_text()
    (tmp_path / "clientdesk.d" / "tls.conf").write_text(tls.replace("/etc/nginx/", f"{tmp_path}/"))
    (tmp_path / "certs").mkdir()
    self_signed_certificate(tmp_path / "certs")
    (tmp_path / "logs").mkdir()
    result = subprocess.run(
        [
            str(NGINX_PROGRAM),
            "-t",
            "-p",
            f"{tmp_path}/",
            "-c",
            str(tmp_path / "nginx.conf"),
            "-g",
            f"pid {tmp_path}/nginx.pid; error_log stderr;",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
