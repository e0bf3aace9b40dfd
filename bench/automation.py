"""The daily automation (SPEC 9) over many clients: the time of each step of one run.

    python -m bench.automation                           # 1,000,000 clients, 100,000 due
    python -m bench.automation --clients 200000 --due 100000
    python -m bench.automation --reuse /tmp/automation-1m  # seed once, run again and again

What it does:
1. starts a private PostgreSQL in a temporary directory, migrates and seeds `--clients`
   clients, set-wise: nine in ten get an ACTIVE service due in 60 days (the rest hold
   nothing active and will be set INACTIVE), and `--due` of those services fall due within
   the default 14 days (one in five by bank transfer, the others by card, no card stored, so
   capture finds nothing to charge); `--invoices` unpaid invoices are spread over the days
   around their due dates, for the reminders, the three overdue notices and the late fee
   (10 %, set for the run); then `VACUUM ANALYZE`;
2. times two yardsticks on the same data (reading every client joined with its services;
   copying the due services with their clients into a temporary table), runs the daily run
   once (`perform_run`, as a worker does) and prints each step's time and counts from the
   run record; then asks for the same date again, which must do nothing, and runs the next
   day (the seed's random client statuses settled by then); then the issue's two targets
   (`targets()` for `make bench`: the inactivity step ≤ 5 s, invoice generation ≤ 10 s);
3. stops PostgreSQL and removes the temporary directory, also on Ctrl-C.

With `--reuse DIR` the PostgreSQL data stays in DIR: the first time, the seed goes into a
template database; every run then works on a fresh copy of it (a file copy, seconds instead
of the minutes seeding 1,000,000 clients takes), so the steps can be timed again after a
change. The template is seeded again when the sizes, the date or the migrations differ.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from rich.console import Console
from rich.table import Table

from app import db
from app.devservices import start_postgres, stop_postgres
from app.migrate import load_migrations, migrate
from app.seed import seed_clients_with_progress, seed_services_and_invoices
from bench.targets import Target, print_targets
from domain.automation import runs
from domain.automation.settings import update_automation_settings
from domain.billing.testcard import TestCardGateway
from domain.settings import get_general_settings

console = Console()


async def prepare(conn: asyncpg.Connection, args: argparse.Namespace, as_of: date) -> None:
    await migrate(conn)
    await seed_clients_with_progress(conn, args.clients, console=console, seed=42)
    started = time.perf_counter()
    await seed_services_and_invoices(conn, due=args.due, invoices=args.invoices, as_of=as_of)
    await update_automation_settings(conn, late_fee_amount=Decimal("10.00"))
    console.print(f"Added services and invoices in {time.perf_counter() - started:.1f} s.")
    await conn.execute("VACUUM ANALYZE")


# The database `--reuse` keeps seeded, and what it was seeded with (its comment).
SEEDED_DATABASE = "automation_seeded"


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _seed_fingerprint(args: argparse.Namespace, as_of: date) -> str:
    # The schema too: a seed made before a migration changed the tables is made again.
    schema = hashlib.sha256("".join(m.checksum for m in load_migrations()).encode()).hexdigest()
    return (
        f"clients={args.clients} due={args.due} invoices={args.invoices} as_of={as_of} "
        f"schema={schema[:12]}"
    )


async def fresh_copy_of_seed(database_url: str, args: argparse.Namespace, as_of: date) -> None:
    """Replace the database of `database_url` by a copy of the seeded template, seeding the
    template first unless it holds this seed already."""
    database = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(_with_database(database_url, "postgres"))
    try:
        seeded = await admin.fetchval(
            """SELECT shobj_description(oid, 'pg_database') FROM pg_database
                WHERE datname = $1""",
            SEEDED_DATABASE,
        )
        fingerprint = _seed_fingerprint(args, as_of)
        if seeded != fingerprint:
            await admin.execute(f'DROP DATABASE IF EXISTS "{SEEDED_DATABASE}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{SEEDED_DATABASE}"')
            conn = await db.connect(_with_database(database_url, SEEDED_DATABASE))
            try:
                await prepare(conn, args, as_of)
            finally:
                await conn.close()
            await admin.execute(f"COMMENT ON DATABASE \"{SEEDED_DATABASE}\" IS '{fingerprint}'")
        else:
            console.print(f"Reusing the seed in {SEEDED_DATABASE} ({fingerprint}).")
        started = time.perf_counter()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(
            f'CREATE DATABASE "{database}" TEMPLATE "{SEEDED_DATABASE}" STRATEGY FILE_COPY'
        )
        console.print(f"Copied the seed in {time.perf_counter() - started:.1f} s.")
    finally:
        await admin.close()


def statement_timer(conn: asyncpg.Connection) -> None:
    """Print every statement `conn` sends with its seconds (`--verbose`)."""

    def show(record: asyncpg.connection.LoggedQuery) -> None:
        console.print(
            f"{record.elapsed:8.3f} s  {' '.join(record.query.split())[:100]}", soft_wrap=True
        )

    conn.add_query_logger(show)


# The yardsticks, timed on the same database just before the run, so that they share its
# load: what the machine gives right now for the least work each step must do.
# Inactivity must read every client against what it holds: every client joined with its
# services, nothing written.
INACTIVITY_FLOOR_SQL = """
SELECT count(*) FROM clients c LEFT JOIN services s ON s.client_id = c.id"""
# Generation must read the due services with their clients and write at least a row for
# each: the same rows copied into a temporary table (rolled back).
GENERATION_FLOOR_SQL = """
CREATE TEMP TABLE generation_floor AS
SELECT s.*, c.first_name, c.last_name, c.email, c.address1, c.city, c.country
  FROM services s JOIN clients c ON c.id = s.client_id
 WHERE s.status = 'ACTIVE' AND s.next_due_date <= $1"""


@dataclass(frozen=True)
class Measured:
    run: runs.AutomationRun
    next_day: runs.AutomationRun
    seconds: float  # the whole first run
    next_day_seconds: float
    again_unchanged: bool  # asking for the same date again changed nothing
    again_seconds: float
    emails: int
    inactivity_floor: float  # seconds of INACTIVITY_FLOOR_SQL
    generation_floor: float  # seconds of GENERATION_FLOOR_SQL


async def _seconds(conn: asyncpg.Connection, sql: str, *args: object) -> float:
    """The time of `sql` in a transaction that is rolled back."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        started = time.perf_counter()
        await conn.execute(sql, *args)
        return time.perf_counter() - started
    finally:
        await transaction.rollback()


async def bench(database_url: str, args: argparse.Namespace) -> Measured:
    as_of = date.today()
    tools = runs.RunTools(
        gateways={"testcard": TestCardGateway()},
        card_keyring=None,
        client_area_url="https://clients.example.com",
    )
    if args.reuse:
        await fresh_copy_of_seed(database_url, args, as_of)
    conn = await db.connect(database_url)
    try:
        if not args.reuse:
            await prepare(conn, args, as_of)
        inactivity_floor = await _seconds(conn, INACTIVITY_FLOOR_SQL)
        ahead = (await get_general_settings(conn)).create_invoice_days_before
        generation_floor = await _seconds(conn, GENERATION_FLOOR_SQL, as_of + timedelta(days=ahead))
        if args.verbose:
            statement_timer(conn)
        started = time.perf_counter()
        run = await runs.perform_run(conn, as_of, tools)
        seconds = time.perf_counter() - started
        again_started = time.perf_counter()
        again = await runs.perform_run(conn, as_of, tools)
        again_seconds = time.perf_counter() - again_started
        emails = await conn.fetchval("SELECT count(*) FROM emails")
        # The next day: the seed's random statuses are settled, as every day after the first.
        next_started = time.perf_counter()
        next_day = await runs.perform_run(conn, as_of + timedelta(days=1), tools)
        next_day_seconds = time.perf_counter() - next_started
    finally:
        await conn.close()
    return Measured(
        run=run,
        next_day=next_day,
        seconds=seconds,
        next_day_seconds=next_day_seconds,
        again_unchanged=again == run,
        again_seconds=again_seconds,
        emails=emails,
        inactivity_floor=inactivity_floor,
        generation_floor=generation_floor,
    )


def report(measured: Measured, args: argparse.Namespace) -> None:
    run, next_day = measured.run, measured.next_day
    table = Table(
        title=f"Daily run: {args.clients:,} clients, {args.due:,} due services, "
        f"{args.invoices:,} unpaid invoices"
    )
    for column in ("step", "seconds", "next day, seconds"):
        table.add_column(column, justify="right")
    for step in runs.STEPS:
        table.add_row(
            step, f"{run.durations.get(step, 0):.2f}", f"{next_day.durations.get(step, 0):.2f}"
        )
    table.add_row("whole run", f"{measured.seconds:.2f}", f"{measured.next_day_seconds:.2f}")
    console.print(table)
    console.print({name: run.count(name) for name in runs.COUNT_NAMES})
    console.print({name: next_day.count(name) for name in runs.COUNT_NAMES})
    console.print(f"{measured.emails:,} emails queued; failures: {run.failures or 'none'}.")
    console.print(
        f"Asking for the same date again took {measured.again_seconds:.3f} s and changed "
        f"nothing: {measured.again_unchanged}."
    )
    console.print(f"Load average (1, 5, 15 min): {os.getloadavg()}.")


INACTIVITY_GOAL = 5.0  # seconds, for the whole step over all clients (issue 11)
GENERATION_GOAL = 10.0  # seconds, for the step with its emails


def target_rows(measured: Measured, args: argparse.Namespace) -> list[Target]:
    run = measured.run
    inactivity = run.durations["update_client_statuses"]
    changed = run.count("clients_deactivated") + run.count("clients_activated")
    generation = run.durations["generate_invoices"]
    next_day = measured.next_day.durations["update_client_statuses"]
    return [
        Target(
            name=f"inactivity step, {args.clients:,} clients",
            goal=f"≤ {INACTIVITY_GOAL:g} s",
            baseline=f"{measured.inactivity_floor:.2f} s reading clients ⟕ services",
            measured=f"{inactivity:.2f} s ({changed:,} changed; next day {next_day:.2f} s)",
            met=inactivity <= INACTIVITY_GOAL and not run.failures,
        ),
        Target(
            name=f"invoice generation, {args.due:,} due services",
            goal=f"≤ {GENERATION_GOAL:g} s",
            baseline=f"{measured.generation_floor:.2f} s copying due services ⨝ clients",
            measured=f"{generation:.2f} s ({run.count('invoices_generated'):,} invoices, "
            "emails included)",
            met=generation <= GENERATION_GOAL and not run.failures,
        ),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.automation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--clients", type=int, default=1_000_000, help="clients to seed")
    parser.add_argument("--due", type=int, default=100_000, help="services due within 14 days")
    parser.add_argument("--invoices", type=int, default=100_000, help="unpaid invoices")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="keep PostgreSQL's data in DIR and the seed in it: later runs copy it, not seed",
    )
    parser.add_argument("--verbose", action="store_true", help="print each statement's time")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> Measured:
    """Start PostgreSQL, seed (or copy the reused seed), run, stop; remove what `args` says."""
    if args.reuse:
        tmp = args.reuse.resolve()
    else:
        tmp = Path(tempfile.mkdtemp(prefix="clientdesk-bench-automation-"))
    pg_dir = tmp / "postgres"
    try:
        console.print(f"Starting PostgreSQL in {tmp} …")
        database_url = start_postgres(pg_dir)
        return asyncio.run(bench(database_url, args))
    finally:
        stop_postgres(pg_dir, throwaway=not (args.reuse or args.keep))
        if not (args.reuse or args.keep):
            shutil.rmtree(tmp, ignore_errors=True)


def targets(quick: bool) -> list[Target]:
    """The two targets of issue 11: 1,000,000 clients with 100,000 due services (quick:
    50,000 clients, 5,000 due)."""
    args = parse_args(
        ["--clients", "50000", "--due", "5000", "--invoices", "5000"] if quick else []
    )
    measured = measure(args)
    report(measured, args)
    return target_rows(measured, args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        measured = measure(args)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/]")
        return 130
    report(measured, args)
    print_targets(target_rows(measured, args), console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
