"""Helpers for tests that run the installation as its user would: commands, servers, files."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings

# Settings a command run by a test must not inherit from the shell that started pytest.
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "SMTP_URL", "VAR_DIR", "HOST", "PORT")


def with_database(database_url: str, database: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _execute(database_url: str, sql: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """An empty database of its own on the test server, dropped afterwards (for sync tests)."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_url, name)
    finally:
        asyncio.run(_execute(server_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


def command_env(**values: str) -> dict[str, str]:
    """The environment of a command a test runs: this one without the service settings."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.pop("CLIENTDESK_ADMIN_PASSWORD", None)
    return {**env, **values}


def wait_for_http(url: str, timeout: float = 45, status: int = 200) -> httpx.Response:
    """Poll `url` until it answers with `status`; the last response (AssertionError if none)."""
    deadline = time.monotonic() + timeout
    last: httpx.Response | str = "no answer"
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2)
            if last.status_code == status:
                return last
        except httpx.TransportError as error:
            last = repr(error)
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer {status} within {timeout} s: {last}")


@pytest.fixture
def run_cli(settings: Settings, pool: asyncpg.Pool, tmp_path: Path, monkeypatch):
    """`clientdesk …` in this process, on the suite's database, with no dev folder."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    # The database commands use no Redis; they must not ask for it.
    monkeypatch.setenv("REDIS_URL", "")

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), input=input)

    return run
