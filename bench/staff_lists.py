"""The staff lists' pages at scale (issue 20: ≤ 15 ms a page at 1,000,000 clients).

    python -m bench.staff_lists [--clients N]

Seeds a scratch PostgreSQL set-wise (generate_series): N clients, two invoices, one ticket
and one service each, spread over statuses and due dates; then times, for every list and
filter, the first page and a deep one (its cursor 90% down the unfiltered order), each
median of 5 reads of `domain.listing.Listing.page` with its total, as the resolver reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from app import db
from app.devservices import start_postgres, stop_postgres
from app.migrate import migrate
from domain.billing import lists as billing_lists
from domain.billing.models import InvoiceStatus, ServiceStatus
from domain.listing import Conditions, Listing
from domain.paging import PageRequest, Position
from domain.tickets import lists as ticket_lists
from domain.tickets.models import TicketStatus

SEED = """
WITH new_logins AS (
    INSERT INTO logins (email) SELECT 'c' || n || '@bench.example' FROM generate_series(1, $1) n
    RETURNING id, email)
INSERT INTO clients (owner_login_id, email, first_name, last_name, currency, status)
SELECT id, email, 'Pat', 'Client', 'EUR', 'ACTIVE' FROM new_logins;
"""
SEED_ROWS = (
    """INSERT INTO invoices (client_id, number, status, due_date, billed_to)
       SELECT c.id, c.id * 2 + k, (ARRAY['UNPAID','PAID','PAID','CANCELLED'])[1 + (c.id + k) % 4],
              CURRENT_DATE - 200 + ((c.id * 7 + k * 13) % 400)::int, '{"name": "Pat"}'
         FROM clients c CROSS JOIN generate_series(0, 1) k""",
    """INSERT INTO tickets (client_id, opened_by, opener, subject, status, updated_at)
       SELECT id, 'CLIENT', 'Pat', 'Help', (ARRAY['OPEN','ANSWERED','CUSTOMER_REPLY'])[1 + id % 3],
              now() - make_interval(mins => (id * 17 % 500000)::int) FROM clients""",
    """INSERT INTO services (client_id, name, amount, billing_cycle, status, next_due_date)
       SELECT id, 'Hosting', 10, 'MONTHLY',
              (ARRAY['ACTIVE','ACTIVE','SUSPENDED','CANCELLED'])[1 + id % 4],
              CASE WHEN id % 10 = 0 THEN NULL ELSE CURRENT_DATE + (id % 365)::int END
         FROM clients""",
)


def _cases(client_id: int) -> list[tuple[str, Listing[Any], Callable[[], Conditions], str]]:
    today = date.today()
    invoice, service, ticket = billing_lists, billing_lists, ticket_lists
    return [
        ("invoices", invoice.INVOICES, invoice.InvoiceFilter().conditions, "ID"),
        ("invoices", invoice.INVOICES, invoice.InvoiceFilter().conditions, "DUE_DATE"),
        (
            "invoices status=UNPAID",
            invoice.INVOICES,
            invoice.InvoiceFilter(statuses=(InvoiceStatus.UNPAID,)).conditions,
            "DUE_DATE",
        ),
        (
            "invoices overdue",
            invoice.INVOICES,
            invoice.InvoiceFilter(overdue=True).conditions,
            "ID",
        ),
        (
            "invoices overdue",
            invoice.INVOICES,
            invoice.InvoiceFilter(overdue=True).conditions,
            "DUE_DATE",
        ),
        (
            "invoices due range",
            invoice.INVOICES,
            invoice.InvoiceFilter(
                due_after=today - timedelta(days=30), due_before=today + timedelta(days=30)
            ).conditions,
            "DUE_DATE",
        ),
        (
            "invoices of a client",
            invoice.INVOICES,
            invoice.InvoiceFilter(client_id=client_id).conditions,
            "ID",
        ),
        ("tickets", ticket.TICKETS, ticket.TicketFilter().conditions, "UPDATED_AT"),
        (
            "tickets status=OPEN",
            ticket.TICKETS,
            ticket.TicketFilter(statuses=(TicketStatus.OPEN,)).conditions,
            "UPDATED_AT",
        ),
        ("services", service.SERVICES, service.ServiceFilter().conditions, "ID"),
        (
            "services due in 30 days",
            service.SERVICES,
            service.ServiceFilter(due_before=today + timedelta(days=30)).conditions,
            "NEXT_DUE_DATE",
        ),
        (
            "services status=SUSPENDED",
            service.SERVICES,
            service.ServiceFilter(statuses=(ServiceStatus.SUSPENDED,)).conditions,
            "ID",
        ),
    ]


async def _time(
    conn: asyncpg.Connection,
    listing: Listing[Any],
    conditions: Conditions,
    order: str,
    request: PageRequest,
) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        await listing.page(
            conn, conditions, request, order=order, descending=False, look_behind=True
        )
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _deep(conn: asyncpg.Connection, listing: Listing[Any], order: str) -> Position:
    """A position 90% down the list in `order`."""
    expression, _ = listing.orders[order]
    table = listing.source.removeprefix("FROM ")
    row = await conn.fetchrow(
        f"SELECT ({expression})::text AS v, {listing.id_column} AS id FROM {table} "
        f"ORDER BY {expression}, {listing.id_column} "
        f"OFFSET (SELECT count(*) * 9 / 10 FROM {table}) LIMIT 1"
    )
    return Position(row["v"], row["id"])


async def run(database_url: str, clients: int) -> None:
    conn = await db.connect(database_url)
    try:
        await migrate(conn)
        started = time.perf_counter()
        await conn.execute(SEED.replace("$1", str(clients)))
        for statement in SEED_ROWS:
            await conn.execute(statement)
        await conn.execute("VACUUM ANALYZE")
        print(f"seeded {clients:,} clients in {time.perf_counter() - started:.1f} s")
        client_id = await conn.fetchval("SELECT max(id) / 2 FROM clients")
        for name, listing, conditions, order in _cases(client_id):
            made = conditions()
            first = await _time(conn, listing, made, order, PageRequest(50))
            deep = PageRequest(50, after=await _deep(conn, listing, order))
            deep_ms = await _time(conn, listing, made, order, deep)
            print(f"{name:28} {order:14} first page {first:6.2f} ms   deep page {deep_ms:6.2f} ms")
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="clientdesk-bench-"))
    with contextlib.ExitStack() as stack:
        stack.callback(stop_postgres, tmp / "postgres", throwaway=True)
        asyncio.run(run(start_postgres(tmp / "postgres"), args.clients))


if __name__ == "__main__":
    main()
