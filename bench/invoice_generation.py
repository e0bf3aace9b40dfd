"""Invoice generation (SPEC 9.5) for many due services: time and SQL statements, in one run.

    python -m bench.invoice_generation                      # 100,000 due services
    python -m bench.invoice_generation --services 20000 --clients 2000

What it does:
1. starts a private PostgreSQL in a temporary directory, migrates, seeds `--clients`
   clients and gives them `--services` ACTIVE services due within the default 14 days,
   set-wise: a mix of due dates, payment methods and billing cycles; every 10th client wants
   separate invoices, every 7th is tax exempt, every 20th has credit; a tax rule per seeded
   country; then `VACUUM ANALYZE`;
2. runs `generate_invoices` once and counts every statement it sends (asyncpg's query
   logger) and the wall time; then runs it again, which must find nothing left to invoice;
3. checks the outcome against the seeded data (every service invoiced once, the credit
   ledger still equal to the balances) and prints the figures;
4. stops PostgreSQL and removes the temporary directory, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.table import Table

from app import db
from app.devservices import start_postgres, stop_postgres
from app.migrate import migrate
from app.seed import seed_clients_with_progress
from domain.billing.generation import GenerationResult, generate_invoices

console = Console()

# Services spread over the clients round-robin; a client's are due on one day 0–13 days after
# the run date (all within the default `createInvoiceDaysBefore`, 14), one in five paid by
# bank transfer and the others by card: most clients get two invoices.
SERVICES_SQL = """
INSERT INTO services (client_id, name, amount, billing_cycle, status, payment_method,
                      next_due_date)
SELECT c.id, 'Service ' || g,
       (5 + g % 50)::numeric(14, 2) + 0.99,
       (ARRAY['MONTHLY', 'QUARTERLY', 'ANNUALLY'])[1 + g % 3],
       'ACTIVE',
       CASE WHEN g % 5 = 0 THEN 'banktransfer' ELSE 'testcard' END,
       $2::date + (c.n % 14)::int
  FROM generate_series(0, $1 - 1) AS g
  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM clients) c
    ON c.n = g % (SELECT count(*) FROM clients)"""

FLAGS_SQL = """
UPDATE clients SET separate_invoices = (id % 10 = 0), tax_exempt = (id % 7 = 0)"""

TAX_RULES_SQL = """
INSERT INTO tax_rules (country, name, rate)
SELECT DISTINCT country, 'Tax', 10 + length(country) FROM clients WHERE country IS NOT NULL"""

# Credit for every 20th client, written as the ledger writes it (row and balance together).
CREDIT_SQL = """
WITH given AS (
    INSERT INTO credit_log (client_id, description, amount)
    SELECT id, 'Bench credit', 25.00 FROM clients WHERE id % 20 = 0
    RETURNING client_id, amount
)
UPDATE clients c SET credit_balance = c.credit_balance + g.amount
  FROM given g WHERE c.id = g.client_id"""


@dataclass
class Run:
    result: GenerationResult
    seconds: float
    statements: int


async def prepare(conn: asyncpg.Connection, clients: int, services: int, as_of: date) -> None:
    await migrate(conn)
    await seed_clients_with_progress(conn, clients, console=console, seed=42)
    started = time.perf_counter()
    added = await conn.execute(SERVICES_SQL, services, as_of)
    await conn.execute(FLAGS_SQL)
    await conn.execute(TAX_RULES_SQL)
    await conn.execute(CREDIT_SQL)
    console.print(
        f"Added {int(added.split()[-1]):,} due services in {time.perf_counter() - started:.1f} s."
    )
    await conn.execute("VACUUM ANALYZE")


async def timed_generation(conn: asyncpg.Connection, as_of: date, *, verbose: bool) -> Run:
    statements = 0

    def count(record: asyncpg.connection.LoggedQuery) -> None:
        nonlocal statements
        statements += 1
        if verbose:
            console.print(f"{record.elapsed:8.3f} s  {' '.join(record.query.split())[:90]}")

    conn.add_query_logger(count)
    try:
        started = time.perf_counter()
        result = await generate_invoices(conn, as_of=as_of)
        seconds = time.perf_counter() - started
    finally:
        conn.remove_query_logger(count)
    return Run(result, seconds, statements)


async def check(conn: asyncpg.Connection, services: int) -> None:
    invoiced = await conn.fetchval(
        "SELECT count(DISTINCT item_id) FROM invoice_items WHERE item_kind = 'SERVICE'"
    )
    if invoiced != services:
        raise RuntimeError(f"{invoiced} of {services} services were invoiced")
    drift = await conn.fetchval(
        """SELECT count(*) FROM clients c
            WHERE c.credit_balance <> (SELECT coalesce(sum(amount), 0) FROM credit_log l
                                        WHERE l.client_id = c.id)"""
    )
    if drift:
        raise RuntimeError(f"{drift} clients' credit balance differs from their ledger")


async def bench(database_url: str, args: argparse.Namespace) -> None:
    as_of = date.today()
    conn = await db.connect(database_url)
    try:
        await prepare(conn, args.clients, args.services, as_of)
        first = await timed_generation(conn, as_of, verbose=args.verbose)
        again = await timed_generation(conn, as_of, verbose=args.verbose)
        await check(conn, args.services)
        paid = await conn.fetchval("SELECT count(*) FROM invoices WHERE status = 'PAID'")
    finally:
        await conn.close()

    table = Table(
        title=f"generate_invoices: {args.services:,} due services, {args.clients:,} clients"
    )
    for column in ("run", "invoices", "items", "seconds", "statements", "items/s"):
        table.add_column(column, justify="right")
    for name, run in (("first", first), ("again", again)):
        rate = run.result.items_invoiced / run.seconds if run.seconds else 0
        table.add_row(
            name,
            f"{run.result.invoices_created:,}",
            f"{run.result.items_invoiced:,}",
            f"{run.seconds:.2f}",
            str(run.statements),
            f"{rate:,.0f}",
        )
    console.print(table)
    console.print(
        f"{paid:,} invoices paid in full by credit; a second run invoiced "
        f"{again.result.items_invoiced} items (expected 0)."
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.invoice_generation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--services", type=int, default=100_000, help="due services to invoice")
    parser.add_argument("--clients", type=int, default=10_000, help="clients owning them")
    parser.add_argument("--verbose", action="store_true", help="print each statement's time")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="clientdesk-bench-invoices-"))
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
    except RuntimeError as error:
        console.print(f"[red]{error}[/]")
        return 1
    finally:
        stop_postgres(pg_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
