"""`clientdesk worker --check`: the worker's container health check (docker-compose.yml)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from app.settings import Settings
from app.worker import build_worker


def check_exit_code(redis_url: str, cwd: Path) -> int:
    """`clientdesk worker --check` as the container runs it: its own process (CliRunner in
    a thread would swap this process's stdout under the running worker's logging)."""
    env = {**os.environ, "REDIS_URL": redis_url}
    command = [sys.executable, "-m", "app.cli", "worker", "--check"]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, timeout=60).returncode


async def wait_for_check(
    expected: int, redis_url: str, cwd: Path, running: asyncio.Task[None], seconds: float = 60
) -> int:
    deadline = time.monotonic() + seconds
    while (code := await asyncio.to_thread(check_exit_code, redis_url, cwd)) != expected:
        if running.done():
            running.result()  # the worker ended: its error, not a timeout, is the failure
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return code


async def test_worker_check_passes_while_this_hosts_worker_runs_and_fails_after(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    redis_url = settings.redis_url
    assert await asyncio.to_thread(check_exit_code, redis_url, tmp_path) == 1  # no worker yet
    worker = build_worker(settings, handle_signals=False, poll_delay=0.05)
    running = asyncio.create_task(worker.main())
    try:
        assert await wait_for_check(0, redis_url, tmp_path, running) == 0
    finally:
        running.cancel()
        await worker.close()
    assert await asyncio.to_thread(check_exit_code, redis_url, tmp_path) == 1


def test_worker_check_fails_when_redis_is_unreachable(tmp_path: Path) -> None:
    assert check_exit_code("redis://127.0.0.1:9/0", tmp_path) == 1
