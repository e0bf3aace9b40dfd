"""`clientdesk worker --check`: the worker's container health check (docker-compose.yml)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings
from app.worker import build_worker


def check_exit_code() -> int:
    return CliRunner().invoke(cli, ["worker", "--check"]).exit_code


async def wait_for_check(expected: int, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while (code := await asyncio.to_thread(check_exit_code)) != expected:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return code


async def test_worker_check_passes_while_this_hosts_worker_runs_and_fails_after(
    settings: Settings, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    assert await asyncio.to_thread(check_exit_code) == 1  # no worker yet
    worker = build_worker(settings, handle_signals=False, poll_delay=0.05)
    running = asyncio.create_task(worker.main())
    try:
        assert await wait_for_check(0) == 0
    finally:
        running.cancel()
        await worker.close()
    assert await asyncio.to_thread(check_exit_code) == 1


def test_worker_check_fails_when_redis_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    assert check_exit_code() == 1
