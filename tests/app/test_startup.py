"""A configuration the API cannot start with ends `clientdesk serve` at once, with one clear
line and a non-zero exit status, before any worker process starts (issue 19, defect 3)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from app import server
from app.devservices import free_port
from app.settings import Settings
from tests.app.conftest import command_env

UNREACHABLE = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"


def _serve(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", str(free_port())],
        env=command_env(REDIS_URL="redis://127.0.0.1:1/0", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_with_an_unreachable_database_exits_non_zero_with_one_line() -> None:
    started = time.monotonic()
    result = _serve(DATABASE_URL=UNREACHABLE)
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    assert "Cannot start: PostgreSQL cannot be reached at DATABASE_URL" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_tracing_switched_on_without_its_packages_is_refused_before_starting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "TRACING_MODULES", ("opentelemetry_is_not_here.exporter",))
    settings = Settings(
        _env_file=None, database_url=UNREACHABLE, otel_exporter_otlp_endpoint="http://otel:4318"
    )
    problem = server.startup_problem(settings)
    assert problem is not None
    assert problem.startswith("OTEL_EXPORTER_OTLP_ENDPOINT is set but the tracing packages")


def test_every_package_the_tracing_switch_imports_is_in_the_image_lock() -> None:
    from pathlib import Path

    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in Path("requirements.lock").read_text().splitlines()
        if "==" in line
    }
    for package in (
        "opentelemetry-sdk",
        "opentelemetry-exporter-otlp-proto-http",
        "opentelemetry-instrumentation-asyncpg",
    ):
        assert package in pinned, package
