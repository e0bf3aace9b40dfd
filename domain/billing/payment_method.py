"""A client's payment method reaches everything it pays for (SPEC 1.5)."""

from __future__ import annotations

import asyncpg


async def apply_payment_method(conn: asyncpg.Connection, client_id: int, method: str) -> None:
    """Set `method` on all the client's services, addons, domains and unpaid invoices, in one
    statement (so within the caller's transaction it is all or nothing)."""
    await conn.execute(
        """WITH s AS (UPDATE services SET payment_method = $2 WHERE client_id = $1),
                a AS (UPDATE addons SET payment_method = $2 WHERE client_id = $1),
                d AS (UPDATE domains SET payment_method = $2 WHERE client_id = $1)
           UPDATE invoices SET payment_method = $2 WHERE client_id = $1 AND status = 'UNPAID'""",
        client_id,
        method,
    )
