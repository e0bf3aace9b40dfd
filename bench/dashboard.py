"""The `dashboard` query at 1,000,000 clients with their invoices (issue 20: whole query
≤ 20 ms, exact).

    python -m bench.dashboard                   # 1,000,000 clients
    python -m bench.dashboard --clients 100000 --requests 300

1. starts a private PostgreSQL and Redis, migrates, seeds `--clients` clients (COPY), gives
   them services and one unpaid invoice each due around today (set-wise, the triggers of
   migration 0030 counting them in the same statements), and one payment each spread over
   the past year (the income);
2. serves the real app in one uvicorn process (production mode) and logs in as ADMIN;
3. sends the whole dashboard query `--requests` times, one at a time after a warm-up, and
   prints p50/p99, then checks the figures against a plain COUNT/SUM over the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from rich.console import Console

from app import db
from app.migrate import migrate
from app.seed import seed_clients_with_progress, seed_services_and_invoices
from bench.harness import LOGIN, STAFF_EMAIL, STAFF_PASSWORD, Totals, create_bench_staff
from bench.scratch import run_in_scratch, serve_graphql

console = Console(width=100)
WARMUP = 20

QUERY = """query Dashboard($from: Date!, $to: Date!) {
  dashboard {
    clientsByStatus { status count }
    unpaidInvoices { count totals { currency amount } }
    overdueInvoices { count totals { currency amount } }
    income(from: $from, to: $to, interval: MONTH) { date totals { currency amount } }
    openTickets awaitingReply queuedEmails failedEmails
    lastAutomationRun { asOf }
    nextAutomationRunAt
  }
}"""

# One payment per client on a day of the past year, in the client's currency.
PAYMENTS_SQL = """
INSERT INTO transactions (client_id, date, gateway, amount, currency)
SELECT id, now() - make_interval(days => (id % 365)::int), 'banktransfer', 10 + id % 90, currency
  FROM clients"""


async def prepare_database(database_url: str, clients: int) -> None:
    conn = await db.connect(database_url)
    try:
        await migrate(conn)
        started = time.perf_counter()
        await seed_clients_with_progress(conn, clients, console=console, seed=20)
        await seed_services_and_invoices(
            conn, due=clients // 10, invoices=clients, as_of=date.today()
        )
        await conn.execute(PAYMENTS_SQL)
        await create_bench_staff(conn)
        await conn.execute("VACUUM ANALYZE")
        console.print(f"Seeded {clients:,} clients in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


async def measure(url: str, requests: int) -> tuple[Totals, dict[str, object]]:
    today = date.today()
    variables = {"from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat()}
    timings = Totals()
    async with httpx.AsyncClient(timeout=60) as client:
        login = await client.post(
            url,
            json={"query": LOGIN, "variables": {"email": STAFF_EMAIL, "password": STAFF_PASSWORD}},
        )
        headers = {"Authorization": f"Bearer {login.json()['data']['login']['token']}"}
        body: dict[str, object] = {}
        for n in range(WARMUP + requests):
            started = time.perf_counter()
            response = await client.post(
                url, json={"query": QUERY, "variables": variables}, headers=headers
            )
            seconds = time.perf_counter() - started
            body = response.json()
            if response.status_code != 200 or "errors" in body:
                raise RuntimeError(f"dashboard refused: {response.status_code} {response.text}")
            if n >= WARMUP:
                timings.latencies.append(seconds)
    return timings, body


async def counted(database_url: str) -> tuple[tuple[int, Decimal], float]:
    """The unpaid figures counted over the rows, to set beside the dashboard's."""
    conn = await db.connect(database_url)
    try:
        started = time.perf_counter()
        row = await conn.fetchrow(
            """SELECT count(*) AS n, sum(i.balance) AS amount FROM invoices i
                WHERE i.status = 'UNPAID'"""
        )
        return (row["n"], row["amount"]), time.perf_counter() - started
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args(argv)

    def run(stack: contextlib.ExitStack, tmp: Path) -> int:
        database_url: list[str] = []

        async def prepare(url: str) -> None:
            database_url.append(url)
            await prepare_database(url, args.clients)

        served = serve_graphql(stack, tmp, console, prepare)
        timings, body = asyncio.run(measure(served.server.url, args.requests))
        (count, amount), plain_seconds = asyncio.run(counted(database_url[0]))
        figures = body["data"]["dashboard"]  # type: ignore[index]
        console.print(
            f"dashboard at {args.clients:,} clients, {args.requests} requests: "
            f"p50 {timings.percentile(0.5) * 1000:.2f} ms, "
            f"p99 {timings.percentile(0.99) * 1000:.2f} ms"
        )
        console.print(f"unpaid: dashboard {figures['unpaidInvoices']}")
        console.print(
            f"unpaid: COUNT/SUM over invoices {count} / {amount} ({plain_seconds * 1000:.0f} ms)"
        )
        return 0

    return run_in_scratch(run, console)


if __name__ == "__main__":
    sys.exit(main())
