"""A whole installation in real processes, for injecting faults into it.

PostgreSQL, Redis and an SMTP server of its own (they are stopped and killed here, which the
rest of the suite must not see), the API as `python -m app.cli serve` and the worker as
`python -m app.cli worker`, with retries and the relay sped up through the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import pytest

from app.devservices import RedisServer, free_port, start_postgres, start_redis, stop_postgres
from tests.smtp_servers import RefusingSmtpServer

STAFF_EMAIL = "faults@staff.example.com"
STAFF_PASSWORD = "faults-password-1"

# Seconds, not minutes: relay every second, retries after 0.2 s doubling to 1 s, and a job
# left behind by a killed worker runs again 5 + 10 s later.
FAST_OUTBOX = {
    "EMAIL_RELAY_INTERVAL_SECONDS": "1",
    "EMAIL_RETRY_BASE_SECONDS": "0.2",
    "EMAIL_RETRY_CAP_SECONDS": "1",
    "EMAIL_MAX_ATTEMPTS": "100",
    "WORKER_JOB_TIMEOUT_SECONDS": "5",
    "SMTP_TIMEOUT_SECONDS": "2",
    "AUTOMATION_SCHEDULE": "false",  # the daily run only when a test starts it
}


@dataclass
class Installation:
    root: Path
    database_url: str
    redis: RedisServer
    redis_port: int
    smtp: RefusingSmtpServer
    api_url: str
    env: dict[str, str]
    api: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    def run(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            cwd=self.root,
            check=True,
            capture_output=True,
        )

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_worker(self) -> None:
        self.worker = self.spawn("worker", "worker")

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.kill()
        self.worker.wait()

    def kill_redis(self) -> None:
        self.redis.process.kill()
        self.redis.process.wait()

    def start_redis(self) -> None:
        self.redis = start_redis(self.root / "redis", port=self.redis_port)

    def stop_postgres(self) -> None:
        stop_postgres(self.root / "postgres")

    def start_postgres(self) -> None:
        assert start_postgres(self.root / "postgres") == self.database_url

    def wait_for_api(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.api is not None and self.api.poll() is None, self.log("api")
            try:
                if httpx.get(f"{self.api_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the API did not get ready:\n{self.log('api')}")

    def log(self, name: str, *, tail: int | None = 4000) -> str:
        """What process `name` (api, worker) has logged, by default its end only."""
        path = self.root / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-tail:] if tail else text

    def stop(self) -> None:
        for process in (self.worker, self.api):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for log in self._logs:
            log.close()


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("installation")
    database_url = start_postgres(root / "postgres")
    redis_port = free_port()
    redis = start_redis(root / "redis", port=redis_port)
    smtp = RefusingSmtpServer().start()
    api_port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "SMTP_URL": smtp.url,
        "HOST": "127.0.0.1",
        "PORT": str(api_port),
        "CC_ENCRYPTION_HASH": "faults-card-secret",
        "INBOUND_EMAIL_SECRET": "faults-inbound-secret",
        "CLIENTDESK_STAFF_PASSWORD": STAFF_PASSWORD,
        **FAST_OUTBOX,
    }
    site = Installation(
        root=root,
        database_url=database_url,
        redis=redis,
        redis_port=redis_port,
        smtp=smtp,
        api_url=f"http://127.0.0.1:{api_port}",
        env=env,
    )
    try:
        site.run("migrate")
        site.run("create-staff", "--email", STAFF_EMAIL)
        site.api = site.spawn("api", "serve", "--workers", "1")
        site.start_worker()
        site.wait_for_api()
        yield site
    finally:
        site.stop()
        site.redis.stop()
        smtp.stop()
        stop_postgres(root / "postgres", throwaway=True)
