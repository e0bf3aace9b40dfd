"""The daily automation (SPEC 9) over many clients: the time of each step of one run.

    python -m bench.automation                           # 1,000,000 clients, 100,000 due
    python -m bench.automation --clients 200000 --due 100000

What it does:
1. starts a private PostgreSQL in a temporary directory, migrates and seeds `--clients`
   clients, set-wise: nine in ten get an ACTIVE service due in 60 days (the rest hold
   nothing active and will be set INACTIVE), and `--due` of those services fall due within
   the default 14 days (one in five by bank transfer, the others by card, no card stored, so
   capture finds nothing to charge); `--invoices` unpaid invoices are spread over the days
   around their due dates, for the reminders, the three overdue notices and the late fee
   (10 %, set for the run); then `VACUUM ANALYZE`;
2. runs the daily run once (`perform_run`, as a worker does) and prints each step's time
   and counts from the run record; then asks for the same date again, which must do nothing,
   and runs the next day (the seed's random client statuses settled by then);
3. stops PostgreSQL and removes the temporary directory, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.table import Table

from app import db
from app.devservices import start_postgres, stop_postgres
from app.migrate import migrate
from app.seed import seed_clients_with_progress, seed_services_and_invoices
from domain.automation import runs
from domain.automation.settings import update_automation_settings
from domain.billing.gateways import TestCardGateway

console = Console()


async def prepare(conn: asyncpg.Connection, args: argparse.Namespace, as_of: date) -> None:
    await migrate(conn)
    await seed_clients_with_progress(conn, args.clients, console=console, seed=42)
    started = time.perf_counter()
    await seed_services_and_invoices(conn, due=args.due, invoices=args.invoices, as_of=as_of)
    await update_automation_settings(conn, late_fee_amount=Decimal("10.00"))
    console.print(f"Added services and invoices in {time.perf_counter() - started:.1f} s.")
    await conn.execute("VACUUM ANALYZE")


async def bench(database_url: str, args: argparse.Namespace) -> None:
    as_of = date.today()
    tools = runs.RunTools(
        gateways={"testcard": TestCardGateway()},
        card_keyring=None,
        client_area_url="https://clients.example.com",
    )
    conn = await db.connect(database_url)
    try:
        await prepare(conn, args, as_of)
        started = time.perf_counter()
        run = await runs.perform_run(conn, as_of, tools)
        total = time.perf_counter() - started
        again_started = time.perf_counter()
        again = await runs.perform_run(conn, as_of, tools)
        again_seconds = time.perf_counter() - again_started
        emails = await conn.fetchval("SELECT count(*) FROM emails")
        # The next day: the seed's random statuses are settled, as every day after the first.
        next_started = time.perf_counter()
        next_day = await runs.perform_run(conn, as_of + timedelta(days=1), tools)
        next_total = time.perf_counter() - next_started
    finally:
        await conn.close()

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
    table.add_row("whole run", f"{total:.2f}", f"{next_total:.2f}")
    console.print(table)
    console.print({name: run.count(name) for name in runs.COUNT_NAMES})
    console.print({name: next_day.count(name) for name in runs.COUNT_NAMES})
    console.print(f"{emails:,} emails queued; failures: {run.failures or 'none'}.")
    console.print(
        f"Asking for the same date again took {again_seconds:.3f} s and changed nothing: "
        f"{again == run}."
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.automation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--clients", type=int, default=1_000_000, help="clients to seed")
    parser.add_argument("--due", type=int, default=100_000, help="services due within 14 days")
    parser.add_argument("--invoices", type=int, default=100_000, help="unpaid invoices")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="clientdesk-bench-automation-"))
    if not args.keep:
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    pg_dir = tmp / "postgres"
    try:
        console.print(f"Starting PostgreSQL in {tmp} …")
        database_url = start_postgres(pg_dir)
        asyncio.run(bench(database_url, args))
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/]")
        return 130
    finally:
        stop_postgres(pg_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
