"""Email delivery from the outbox to a local SMTP sink: emails per second, in one run.

    python -m bench.email_delivery                   # 2,000 emails per configuration
    python -m bench.email_delivery --emails 5000

What it does:
1. starts a private PostgreSQL and Redis in a temporary directory, migrates, and an aiosmtpd
   sink as its own process (`bench.smtp_sink`) that logs the Message-ID of what it accepts;
2. for each configuration, starts `clientdesk worker` as its own process with that
   configuration in its environment, waits until it is idle, commits `--emails` outbox rows
   in one transaction and hands them over, then times until every row is marked sent;
3. checks that the sink received each email exactly once (by Message-ID), and prints
   emails/s and the CPU per email of the worker, the sink and PostgreSQL per configuration:
   **baseline** is the old configuration (one job per email as earlier versions queued
   them, arq's `max_jobs` 10 and 0.5 s poll, one SMTP connection), **one job per email**
   today's settings with one job per email, **defaults** a fresh install's (`enqueue_emails`).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil
from arq import create_pool as create_arq_pool
from arq.connections import ArqRedis, RedisSettings
from rich.console import Console
from rich.table import Table

from app import db
from app.devservices import free_port, start_postgres, start_redis, stop_postgres
from app.migrate import migrate
from app.settings import Settings
from bench.targets import Target, print_targets
from domain.emails.templates import TEMPLATES
from workers.email import enqueue_emails

console = Console()

GOAL_EMAILS_PER_SECOND = 300


@dataclass(frozen=True)
class Configuration:
    name: str
    environment: dict[str, str]
    # Hand over one `send_email` job per email, as earlier versions did, instead of batches.
    one_job_per_email: bool = False


BASELINE = Configuration(
    "baseline",
    {"WORKER_MAX_JOBS": "10", "WORKER_POLL_DELAY_SECONDS": "0.5", "SMTP_CONNECTIONS": "1"},
    one_job_per_email=True,
)
ONE_JOB_PER_EMAIL = Configuration("one job per email", {}, one_job_per_email=True)
DEFAULTS = Configuration("defaults", {})
CONFIGURATIONS = (BASELINE, ONE_JOB_PER_EMAIL, DEFAULTS)

SEED_SQL = """
INSERT INTO emails (template, category, to_address, to_name, context)
SELECT $1, $2, 'reader' || g || '@example.com', 'Reader ' || g, $3
  FROM generate_series(1, $4) AS g
RETURNING id"""


@dataclass
class Run:
    name: str
    emails: int
    seconds: float
    worker_cpu_seconds: float = 0.0
    sink_cpu_seconds: float = 0.0
    db_cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.emails / self.seconds

    def ms_per_email(self, cpu_seconds: float) -> float:
        return cpu_seconds * 1000 / self.emails


def cpu_seconds(*processes: psutil.Process | None) -> float:
    """User and system CPU of these processes and their children (PostgreSQL's backends)."""
    total = 0.0
    for process in processes:
        if process is None:
            continue
        with contextlib.suppress(psutil.Error):
            for each in (process, *process.children()):
                with contextlib.suppress(psutil.Error):
                    times = each.cpu_times()
                    total += times.user + times.system
    return total


async def wait_until_sent(conn: asyncpg.Connection, expected: int) -> None:
    """Poll the outbox (the truth) until `expected` rows are marked sent."""
    sent = "SELECT count(*) FROM emails WHERE sent_at IS NOT NULL"
    while True:
        if await conn.fetchval(sent) >= expected:
            return
        await asyncio.sleep(0.02)


async def hand_over_one_job_per_email(redis: ArqRedis, email_ids: list[int]) -> None:
    """What earlier versions queued: a `send_email` job per email, with the id they used."""
    for start in range(0, len(email_ids), 100):
        await asyncio.gather(
            *(
                redis.enqueue_job("send_email", email_id, 1, _job_id=f"email:{email_id}:1")
                for email_id in email_ids[start : start + 100]
            )
        )


async def timed_delivery(
    configuration: Configuration, settings: Settings, emails: int, seconds_allowed: float
) -> tuple[float, list[str]]:
    """Seconds from commit to the last row marked sent, and the rows' Message-IDs."""
    conn = await db.connect(settings.database_url)
    redis = await create_arq_pool(RedisSettings.from_dsn(settings.redis_url))
    try:
        await conn.execute("TRUNCATE emails")
        template = TEMPLATES["client_signup"]
        started = time.perf_counter()
        async with conn.transaction():
            rows = await conn.fetch(
                SEED_SQL, "client_signup", template.category.value, template.sample, emails
            )
        ids = [row["id"] for row in rows]
        if configuration.one_job_per_email:
            await hand_over_one_job_per_email(redis, ids)
        else:
            await enqueue_emails(redis, ids)
        try:
            async with asyncio.timeout(seconds_allowed):
                await wait_until_sent(conn, emails)
        except TimeoutError:
            raise RuntimeError(
                f"{configuration.name}: not all emails were sent in {seconds_allowed} s"
            ) from None
        seconds = time.perf_counter() - started
        message_ids = [
            row["message_id"] for row in await conn.fetch("SELECT message_id FROM emails")
        ]
    finally:
        await redis.aclose()
        await conn.close()
    return seconds, message_ids


def start_process(
    root: Path, name: str, command: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log = (root / f"{name}.log").open("wb")
    return subprocess.Popen(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", *command], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Sink:
    """The SMTP sink process and the file it logs Message-IDs to."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def received(self) -> list[str]:
        return self.log.read_text().split()

    def clear(self) -> None:
        self.log.write_text("")


def start_sink(root: Path) -> Sink:
    port, log = free_port(), root / "received.txt"
    log.write_text("")
    command = ["bench.smtp_sink", "--port", str(port), "--log", str(log)]
    process = start_process(root, "sink", command, dict(os.environ))
    ready = root / "sink.log"
    deadline = time.monotonic() + 30
    while b"ready" not in ready.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the SMTP sink did not start: {ready.read_text()}")
        time.sleep(0.05)
    return Sink(process, log, f"smtp://127.0.0.1:{port}")


def bench(
    root: Path, emails: int, configurations: tuple[Configuration, ...], args: argparse.Namespace
) -> list[Run]:
    database_url = start_postgres(root / "postgres")
    redis = start_redis(root / "redis", port=free_port())
    sink: Sink | None = None
    runs = []
    try:
        sink = start_sink(root)
        base = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "SMTP_URL": sink.url,
            "LOG_LEVEL": "WARNING",
        }
        settings = Settings(database_url=database_url, redis_url=redis.url)
        pid_file = next((root / "postgres").rglob("postmaster.pid"), None)
        postmaster = psutil.Process(int(pid_file.read_text().split()[0])) if pid_file else None
        sink_process = psutil.Process(sink.process.pid)

        async def migrated() -> None:
            conn = await db.connect(database_url)
            try:
                await migrate(conn)
            finally:
                await conn.close()

        asyncio.run(migrated())
        for configuration in configurations:
            name = configuration.name
            worker = start_process(
                root,
                f"worker-{name.replace(' ', '-')}",
                ["app.cli", "worker"],
                {**base, **configuration.environment},
            )
            try:
                time.sleep(args.settle)  # started and past its start-up relay run
                sink.clear()
                worker_process = psutil.Process(worker.pid)
                before = (
                    cpu_seconds(worker_process),
                    cpu_seconds(sink_process),
                    cpu_seconds(postmaster),
                )
                seconds, message_ids = asyncio.run(
                    timed_delivery(configuration, settings, emails, args.timeout)
                )
                run = Run(
                    name,
                    emails,
                    seconds,
                    worker_cpu_seconds=cpu_seconds(worker_process) - before[0],
                    sink_cpu_seconds=cpu_seconds(sink_process) - before[1],
                    db_cpu_seconds=cpu_seconds(postmaster) - before[2],
                )
            finally:
                stop_process(worker)
            received = Counter(sink.received())
            if received != Counter(message_ids):
                twice = sum(1 for count in received.values() if count > 1)
                raise RuntimeError(f"{name}: the sink did not get each email once ({twice} twice)")
            console.print(
                f"{name}: {run.rate:,.0f} emails/s, "
                f"worker {run.ms_per_email(run.worker_cpu_seconds):.2f} ms CPU per email"
            )
            runs.append(run)
    finally:
        if sink is not None:
            stop_process(sink.process)
        redis.stop()
        stop_postgres(root / "postgres")
    return runs


def report(runs: list[Run]) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    table = Table(
        title=f"outbox → SMTP sink, {runs[0].emails:,} emails, one worker process\n"
        f"CPU ms per email of the worker, the sink and PostgreSQL; load average {load}"
    )
    columns = ("configuration", "seconds", "emails/s", "× baseline", "worker", "sink", "db")
    for column in columns:
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            run.name,
            f"{run.seconds:.2f}",
            f"{run.rate:,.0f}",
            f"{run.rate / runs[0].rate:.1f}",
            f"{run.ms_per_email(run.worker_cpu_seconds):.2f}",
            f"{run.ms_per_email(run.sink_cpu_seconds):.2f}",
            f"{run.ms_per_email(run.db_cpu_seconds):.2f}",
        )
    console.print(table)


def delivery_target(runs: list[Run]) -> Target:
    by_name = {run.name: run for run in runs}
    baseline, defaults = by_name[BASELINE.name], by_name[DEFAULTS.name]

    def figure(run: Run) -> str:
        cpu = run.ms_per_email(run.worker_cpu_seconds)
        return f"{run.rate:,.0f} emails/s ({cpu:.2f} ms worker CPU/email)"

    return Target(
        name="email delivery",
        goal=f"≥ {GOAL_EMAILS_PER_SECOND} emails/s",
        baseline=figure(baseline),
        measured=figure(defaults),
        met=defaults.rate >= GOAL_EMAILS_PER_SECOND,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.email_delivery", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--emails", type=int, default=2000, help="emails per configuration")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per run")
    parser.add_argument("--settle", type=float, default=3, help="seconds to let a worker start")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def run_in_tempdir(
    args: argparse.Namespace, configurations: tuple[Configuration, ...]
) -> list[Run]:
    root = Path(tempfile.mkdtemp(prefix="clientdesk-bench-email-"))
    if not args.keep:
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    console.print(f"Working in {root} …")
    runs = bench(root, args.emails, configurations, args)
    report(runs)
    return runs


def targets(quick: bool) -> list[Target]:
    """Target 3 of issue 12: the defaults against the old configuration, in one run."""
    args = parse_args(["--emails", "300" if quick else "2000"])
    return [delivery_target(run_in_tempdir(args, (BASELINE, DEFAULTS)))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        runs = run_in_tempdir(args, CONFIGURATIONS)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/]")
        return 130
    except RuntimeError as error:
        console.print(f"[red]{error}[/]")
        return 1
    print_targets([delivery_target(runs)], console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
