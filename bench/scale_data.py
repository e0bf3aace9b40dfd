"""The data `bench.scale` grows a database with, and the values and exact counts it checks the
lists' answers against."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import asyncpg
from rich.console import Console

from app.seed import seed_clients_with_progress, seed_services_and_invoices
from schema.ids import global_id

# A payment for every other invoice of the clients with an id above `$1`.
TRANSACTIONS_SQL = """
INSERT INTO transactions (client_id, invoice_id, date, gateway, amount, currency, client_name)
SELECT i.client_id, i.id, i.created_at, 'banktransfer', 20.00, c.currency,
       c.first_name || ' ' || c.last_name
  FROM invoices i JOIN clients c ON c.id = i.client_id
 WHERE i.client_id > $1 AND i.id % 2 = 0"""

# An audit entry for each client with an id above `$1`.
AUDIT_SQL = """
INSERT INTO audit_log (action, client_id, changes)
SELECT 'client.update', id, '{"status": ["ACTIVE", "INACTIVE"]}' FROM clients WHERE id > $1"""

# One email given up on per hundred clients with an id above `$1`.
FAILED_EMAILS_SQL = """
INSERT INTO emails (client_id, template, category, to_address, subject, body, attempts,
                    last_error, failed_at)
SELECT id, 'client_signup', 'GENERAL', email::text, 'Welcome', 'Welcome.', 5,
       '550 mailbox unavailable', now()
  FROM clients WHERE id > $1 AND id % 100 = 0"""


async def grow(conn: asyncpg.Connection, size: int, console: Console) -> float:
    """Add clients (and their data) until there are `size`; the seconds it took. A database
    kept by `--reuse` may hold them already; one holding more cannot be measured at `size`."""
    started = time.perf_counter()
    have = await conn.fetchval("SELECT coalesce(max(id), 0) FROM clients")
    count = size - await conn.fetchval("SELECT count(*) FROM clients")
    if count < 0:
        raise RuntimeError(f"The database holds {size - count:,} clients, more than {size:,}.")
    if count == 0:
        console.print(f"Reusing {size:,} clients.")
        return 0.0
    # Each growth step its own random seed: the seed's email addresses differ per seed.
    await seed_clients_with_progress(conn, count, console=console, seed=size)
    billing = await seed_services_and_invoices(
        conn, due=count // 10, invoices=count, as_of=date.today(), after_client_id=have
    )
    for sql in (TRANSACTIONS_SQL, AUDIT_SQL, FAILED_EMAILS_SQL):
        await conn.execute(sql, have)
    console.print(
        f"Grew to {size:,} clients (+{billing.services:,} services, "
        f"+{billing.invoices:,} invoices) in {time.perf_counter() - started:.0f} s; "
        "VACUUM ANALYZE …"
    )
    await conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


async def sample_values(conn: asyncpg.Connection) -> dict[str, Any]:
    """Arguments for the variants: a client in the middle with a payment, a surname, a
    fragment of few addresses and a whole address."""
    size = await conn.fetchval("SELECT max(id) FROM clients")
    row = await conn.fetchrow(
        """SELECT c.id, c.last_name, c.email::text FROM clients c
            WHERE c.id >= $1 AND EXISTS (SELECT 1 FROM transactions t WHERE t.client_id = c.id)
            ORDER BY c.id LIMIT 1""",
        size // 2,
    )
    local = row["email"].split("@")[0]
    return {
        "clientId": global_id("Client", row["id"]),
        "surname": row["last_name"].lower(),
        # The run tag and first digits of the serial (first.last.<tag><serial>@…).
        "fragment": local.rsplit(".", 1)[-1][:8],
        "email": row["email"].upper(),
    }


async def exact_counts(conn: asyncpg.Connection, values: dict[str, Any]) -> dict[str, int]:
    """The true number of clients each counted variant matches, to compare the totals with."""
    like = f"%{values['surname']}%"
    fragment = f"%{values['fragment']}%"
    counts = await conn.fetchrow(
        """SELECT count(*) AS all_,
                  count(*) FILTER (WHERE status = 'CLOSED') AS closed,
                  count(*) FILTER (WHERE status IN ('ACTIVE', 'INACTIVE')) AS open_,
                  count(*) FILTER (WHERE search_text LIKE $1) AS surname,
                  count(*) FILTER (WHERE search_text LIKE $2) AS fragment
             FROM clients""",
        like,
        fragment,
    )
    return {
        "clients": counts["all_"],
        "clients(status: [CLOSED])": counts["closed"],
        "clients(status: [ACTIVE, INACTIVE])": counts["open_"],
        "clients(search: a surname)": counts["surname"],
        "clients(search: a rare fragment)": counts["fragment"],
        "clients(search: a whole email)": 1,
        "clients(orderBy: NAME)": counts["all_"],
        "clients(orderBy: CREATED_AT DESC)": counts["all_"],
    }
