"""Email delivery from the outbox to a local SMTP sink: emails per second, in one run.

    python -m bench.email_delivery                   # 2,000 emails per run
    python -m bench.email_delivery --emails 5000

What it does:
1. starts a private PostgreSQL and Redis in a temporary directory, migrates, and an aiosmtpd
   sink in this process that counts what it accepts;
2. for each configuration, starts `clientdesk worker` as its own process with that
   configuration in its environment, waits until it is idle, commits `--emails` outbox rows
   in one transaction and hands them over as the API does after a commit
   (`enqueue_emails`), then times until every row is marked sent;
3. checks that the sink received each email exactly once (by Message-ID), and prints
   emails/s per configuration: the baseline is the worker as it used to be configured
   (arq's `max_jobs` 10 and 0.5 s poll, one SMTP connection), then the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiosmtpd.controller import Controller
from arq import create_pool as create_arq_pool
from arq.connections import RedisSettings
from rich.console import Console
from rich.table import Table

from app import db
from app.devservices import free_port, start_postgres, start_redis, stop_postgres
from app.migrate import migrate
from app.settings import Settings
from domain.emails.templates import TEMPLATES
from workers.email import enqueue_emails

console = Console()

# The worker as it was configured before: arq's defaults and one SMTP connection.
CONFIGURATIONS = {
    "baseline": {
        "WORKER_MAX_JOBS": "10",
        "WORKER_POLL_DELAY_SECONDS": "0.5",
        "SMTP_CONNECTIONS": "1",
    },
    "defaults": {},
}

SEED_SQL = """
INSERT INTO emails (template, category, to_address, to_name, context)
SELECT $1, $2, 'reader' || g || '@example.com', 'Reader ' || g, $3
  FROM generate_series(1, $4) AS g
RETURNING id"""


class CountingSink:
    """An SMTP server that keeps the Message-ID of everything it accepts."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content)
        self.message_ids.append(message["Message-ID"])
        return "250 Message accepted"


@dataclass
class Run:
    name: str
    emails: int
    seconds: float
    worker_cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.emails / self.seconds


async def wait_until_sent(conn: asyncpg.Connection, expected: int) -> None:
    """Poll the outbox (the truth) until `expected` rows are marked sent."""
    sent = "SELECT count(*) FROM emails WHERE sent_at IS NOT NULL"
    while True:
        if await conn.fetchval(sent) >= expected:
            return
        await asyncio.sleep(0.01)


async def timed_delivery(
    name: str, settings: Settings, sink: CountingSink, emails: int, seconds_allowed: float
) -> Run:
    conn = await db.connect(settings.database_url)
    redis = await create_arq_pool(RedisSettings.from_dsn(settings.redis_url))
    try:
        await conn.execute("TRUNCATE emails")
        sink.message_ids.clear()
        template = TEMPLATES["client_signup"]
        started = time.perf_counter()
        async with conn.transaction():
            rows = await conn.fetch(
                SEED_SQL, "client_signup", template.category.value, template.sample, emails
            )
        await enqueue_emails(redis, [row["id"] for row in rows])
        try:
            async with asyncio.timeout(seconds_allowed):
                await wait_until_sent(conn, emails)
        except TimeoutError:
            raise RuntimeError(f"{name}: not all emails were sent in {seconds_allowed} s") from None
        seconds = time.perf_counter() - started
        sent = await conn.fetch("SELECT message_id FROM emails")
    finally:
        await redis.aclose()
        await conn.close()
    received = Counter(sink.message_ids)
    if received != Counter(row["message_id"] for row in sent):
        twice = sum(1 for count in received.values() if count > 1)
        raise RuntimeError(f"{name}: the sink did not get each email once ({twice} twice)")
    return Run(name, emails, seconds)


def start_worker(root: Path, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log = (root / f"worker-{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def bench(root: Path, args: argparse.Namespace) -> list[Run]:
    database_url = start_postgres(root / "postgres")
    redis = start_redis(root / "redis", port=free_port())
    sink = CountingSink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    base = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "LOG_LEVEL": "WARNING",
    }
    settings = Settings(database_url=database_url, redis_url=redis.url)
    runs = []
    try:

        async def migrated() -> None:
            conn = await db.connect(database_url)
            try:
                await migrate(conn)
            finally:
                await conn.close()

        asyncio.run(migrated())
        for name, overrides in CONFIGURATIONS.items():
            worker = start_worker(root, {**base, **overrides}, name)
            try:
                time.sleep(args.settle)  # started and past its start-up relay run
                cpu = psutil.Process(worker.pid)
                before = sum(cpu.cpu_times()[:2])
                run = asyncio.run(timed_delivery(name, settings, sink, args.emails, args.timeout))
                run.worker_cpu_seconds = sum(cpu.cpu_times()[:2]) - before
            finally:
                stop_worker(worker)
            console.print(f"{name}: {run.rate:,.0f} emails/s")
            runs.append(run)
    finally:
        controller.stop()
        redis.stop()
        stop_postgres(root / "postgres")
    return runs


def report(runs: list[Run]) -> None:
    table = Table(title=f"outbox → SMTP sink, {runs[0].emails:,} emails, one worker")
    for column in ("worker", "seconds", "emails/s", "× baseline", "worker CPU ms/email"):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            run.name,
            f"{run.seconds:.2f}",
            f"{run.rate:,.0f}",
            f"{run.rate / runs[0].rate:.1f}",
            f"{run.worker_cpu_seconds * 1000 / run.emails:.2f}",
        )
    console.print(table)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.email_delivery", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--emails", type=int, default=2000, help="emails per configuration")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per run")
    parser.add_argument("--settle", type=float, default=3, help="seconds to let a worker start")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="clientdesk-bench-email-"))
    if not args.keep:
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    console.print(f"Working in {root} …")
    try:
        report(bench(root, args))
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/]")
        return 130
    except RuntimeError as error:
        console.print(f"[red]{error}[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
