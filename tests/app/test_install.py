"""The package as the image installs it: a wheel, not the source tree (issue 7, defect 1)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import files, packages_distributions, requires
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.devservices import free_port
from app.tracing import TRACING_MODULES
from tests.app.conftest import command_env, scratch_database, wait_for_http
from tests.conftest import LOGIN, Services

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout installed into a folder of its own, offline."""
    root = tmp_path_factory.mktemp("install")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", root, PROJECT],
        check=True,
    )
    wheel = next(root.glob("clientdesk-*.whl"))
    site = root / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", site, wheel], check=True
    )
    return site


@pytest.fixture
def database(services: Services) -> Iterator[str]:
    with scratch_database(services.database_url) as url:
        yield url


def test_an_installed_package_migrates_an_empty_database_and_serves_logins(
    installed: Path, database: str, services: Services, tmp_path: Path
) -> None:
    port = free_port()
    env = command_env(
        PYTHONPATH=str(installed),
        DATABASE_URL=database,
        REDIS_URL=services.redis_url,
        PORT=str(port),
    )

    def clientdesk(*args: str, **options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            cwd=tmp_path,  # not the checkout: only the installed files are importable
            env={**env, **options},
            capture_output=True,
            text=True,
            timeout=45,
        )

    imported = subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.startswith(str(installed)), imported.stdout

    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # Behind on its migrations, the database is not ready: requests would fail.
        not_ready = wait_for_http(f"{base}/readyz", status=503)
        assert not_ready.json()["migrations"].startswith("pending: 0001_initial")

        migrated = clientdesk("migrate")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert "applied 0001_initial" in migrated.stdout
        # Every migration the package holds, not none ("30 migration(s)" holds "0 migration").
        applied = len(list((PROJECT / "migrations").glob("[0-9]*.sql")))
        assert f"\n{applied} migration(s) applied" in migrated.stdout
        assert wait_for_http(f"{base}/readyz").json() == {
            "postgres": "ok",
            "migrations": "ok",
            "redis": "ok",
        }

        staff = clientdesk(
            "create-staff", "--email", "ops@example.com", CLIENTDESK_STAFF_PASSWORD="pw-of-ops-1"
        )
        assert staff.returncode == 0, staff.stdout + staff.stderr
        body = httpx.post(
            f"{base}/graphql",
            json={
                "query": LOGIN,
                "variables": {"email": "ops@example.com", "password": "pw-of-ops-1"},
            },
        ).json()
        assert "errors" not in body, body
        assert body["data"]["login"]["errors"] == []
        assert body["data"]["login"]["viewer"]["kind"] == "STAFF"
    finally:
        server.terminate()
        server.wait(timeout=15)


def locked_versions() -> dict[str, str]:
    lines = (PROJECT / "requirements.lock").read_text().splitlines()
    pins = (line.split("==") for line in lines if "==" in line)
    return {canonicalize_name(name): version for name, version in pins}


def test_the_image_installs_every_package_that_tracing_imports() -> None:
    # The Dockerfile installs requirements.lock and nothing else: tracing switched on there
    # imports TRACING_MODULES, each from a package, with that package's own requirements.
    locked = locked_versions()
    providers = packages_distributions()
    needed = {
        dist
        for module in TRACING_MODULES
        for dist in providers[module.split(".")[0]]
        if any(str(f).startswith(module.replace(".", "/")) for f in files(dist) or ())
    }
    missing: set[str] = set()
    while needed:
        name = canonicalize_name(needed.pop())
        if name in locked or name in missing:
            continue
        missing.add(name)
        for requirement in map(Requirement, requires(name) or ()):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                needed.add(requirement.name)
    assert not missing, f"requirements.lock lacks {sorted(missing)}"


def test_export_schema_of_an_installed_package_writes_where_it_runs(
    installed: Path, tmp_path: Path
) -> None:
    before = {path: path.stat().st_mtime_ns for path in installed.rglob("*.graphql")}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "export-schema"],
        cwd=tmp_path,
        env=command_env(PYTHONPATH=str(installed)),
        capture_output=True,
        text=True,
        timeout=45,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "interface Node" in (tmp_path / "schema.graphql").read_text(encoding="utf-8")
    after = {path: path.stat().st_mtime_ns for path in installed.rglob("*.graphql")}
    assert after == before  # nothing written into the installed package
