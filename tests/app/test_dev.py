"""`clientdesk dev`: one per var/ directory, supervised processes, a true banner (issues 6, 7)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from rich.console import Console

from app.dev import ADMIN_EMAIL, ensure_admin
from app.devservices import free_port
from domain.auth.staff import create_staff, staff_password_matches
from tests.app.conftest import command_env, scratch_database, wait_for_http
from tests.conftest import Services

CLI = [sys.executable, "-m", "app.cli"]
BANNER = "clientdesk is running"


@dataclass
class DevRun:
    home: Path
    env: dict[str, str]
    base_url: str
    process: subprocess.Popen[bytes]

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.home / "var" / "dev.json").read_text())
        return state

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            cwd=self.home,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=45,
        )


def dev_env(services: Services, database_url: str, port: int) -> dict[str, str]:
    # Redis database 5: the dev worker must not take the jobs of other tests' queue.
    redis_url = services.redis_url.rsplit("/", 1)[0] + "/5"
    return command_env(
        DATABASE_URL=database_url, REDIS_URL=redis_url, SMTP_URL=services.mail.url, PORT=str(port)
    )


@pytest.fixture(scope="module")
def dev(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevRun]:
    """A `clientdesk dev` running in a folder of its own, on the test database server."""
    home = tmp_path_factory.mktemp("dev")
    port = free_port()
    with scratch_database(services.database_url) as database_url:
        env = dev_env(services, database_url, port)
        with (home / "dev.log").open("wb") as log:
            process = subprocess.Popen([*CLI, "dev"], cwd=home, env=env, stdout=log, stderr=log)
        run = DevRun(home, env, f"http://127.0.0.1:{port}", process)
        try:
            wait_for_http(f"{run.base_url}/readyz")
            yield run
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(condition: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_starts_again_a_worker_that_dies(dev: DevRun) -> None:
    worker = dev.state()["processes"]["worker"]
    os.kill(worker, signal.SIGKILL)

    def new_worker() -> int | None:
        pid: int = dev.state()["processes"]["worker"]
        return pid if pid != worker and alive(pid) else None

    wait_for(new_worker)
    assert dev.process.poll() is None
    wait_for_http(f"{dev.base_url}/readyz")


def test_dev_starts_again_an_api_that_dies(dev: DevRun) -> None:
    api = dev.state()["processes"]["api"]
    os.kill(api, signal.SIGKILL)
    wait_for(lambda: dev.state()["processes"]["api"] != api)
    wait_for_http(f"{dev.base_url}/readyz")


def test_a_second_dev_says_so_and_leaves_the_first_alone(dev: DevRun) -> None:
    second = dev.run("dev")
    assert second.returncode == 1, second.stdout
    assert "already running" in second.stdout
    assert dev.state()["graphiql_url"] in second.stdout
    assert BANNER not in second.stdout
    assert dev.process.poll() is None
    assert wait_for_http(f"{dev.base_url}/readyz").json()["postgres"] == "ok"


def test_commands_find_the_services_of_the_running_dev(dev: DevRun) -> None:
    # As the README says: no DATABASE_URL, no REDIS_URL, in the folder where `make dev` runs.
    result = dev.run("migrate", env=command_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 migration(s) applied" in result.stdout


def test_serve_from_another_shell_finds_the_services_of_the_running_dev(dev: DevRun) -> None:
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--workers", "1", "--port", str(port)],
        cwd=dev.home,
        env=command_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=30)
        assert ready.json()["postgres"] == "ok"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)


def test_a_burst_worker_from_another_shell_finds_the_services_of_the_running_dev(
    dev: DevRun,
) -> None:
    result = dev.run("worker", "--burst", env=command_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_dev_reports_a_busy_port_before_starting_anything(
    services: Services, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with scratch_database(services.database_url) as database_url:
            result = subprocess.run(
                [*CLI, "dev"],
                cwd=tmp_path,
                env=dev_env(services, database_url, port),
                capture_output=True,
                text=True,
                timeout=45,
            )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is in use" in result.stdout
    assert BANNER not in result.stdout
    assert "applied migration" not in result.stdout
    assert not (tmp_path / "var" / "dev.json").exists()


async def test_a_changed_admin_password_is_applied_before_it_is_shown(
    conn: asyncpg.Connection,
) -> None:
    await create_staff(
        conn,
        email=ADMIN_EMAIL,
        password="first-password",
        first_name="Admin",
        last_name="User",
    )
    await ensure_admin(conn, "second-password", console=Console(quiet=True))
    assert await staff_password_matches(conn, ADMIN_EMAIL, "second-password")
    assert not await staff_password_matches(conn, ADMIN_EMAIL, "first-password")


@pytest.mark.parametrize(
    "stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name
)
def test_stopping_dev_stops_the_processes_it_started_again(
    services: Services, tmp_path: Path, stop: signal.Signals
) -> None:
    # What an IDE, a process manager, `kill`, a closed terminal or the OOM killer sends; the
    # processes started again after a crash are the ones that used to be left running.
    port = free_port()
    with scratch_database(services.database_url) as database_url:
        env = dev_env(services, database_url, port)
        with (tmp_path / "dev.log").open("wb") as log:
            process = subprocess.Popen([*CLI, "dev"], cwd=tmp_path, env=env, stdout=log, stderr=log)
        run = DevRun(tmp_path, env, f"http://127.0.0.1:{port}", process)
        try:
            # Its banner, not only /readyz: until dev has seen the API listen, an API that
            # dies is one that did not start, and dev gives up.
            wait_for(lambda: BANNER in (tmp_path / "dev.log").read_text())
            first = run.state()["processes"]
            for pid in first.values():
                os.kill(pid, signal.SIGKILL)

            def restarted() -> dict[str, int] | None:
                pids: dict[str, int] = run.state()["processes"]
                fresh = all(pids[n] != first[n] and alive(pids[n]) for n in first)
                return pids if fresh else None

            again = wait_for(restarted)
            wait_for_http(f"{run.base_url}/readyz")
            process.send_signal(stop)
            process.wait(timeout=30)
            wait_for(lambda: not any(alive(pid) for pid in again.values()), timeout=5)
        finally:
            process.kill()
            process.wait()


def test_the_api_of_dev_reports_the_jobs_of_its_worker(dev: DevRun) -> None:
    # The relay runs as the worker starts: its job is counted in the worker process.
    def relay_counted() -> bool:
        text = httpx.get(f"{dev.base_url}/metrics", timeout=5).text
        return 'clientdesk_worker_jobs_total{function="relay_outbox"' in text

    wait_for(relay_counted)
