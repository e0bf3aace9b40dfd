"""Ledger rows and the one way to write them: under the client's row lock, balance kept equal
to the sum of the rows (SPEC 3.6). Staff use cases and billing (3.4, 3.5) both go through it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from domain.errors import DomainError, ErrorCode, NotFound
from domain.money import check_storable
from domain.nested import by_id, first_of_each, grouped


@dataclass(frozen=True)
class CreditEntry:
    id: int
    client_id: int
    date: datetime
    description: str
    amount: Decimal
    staff_id: int | None
    invoice_id: int | None
    # Who the log shows as having made the change; None for automatic entries.
    staff_name: str | None = None


# An entry with its staff member's name, from `credit_log` (or a CTE of its rows) named `e`.
ENTRY_SELECT = """SELECT e.id, e.client_id, e.created_at AS date, e.description, e.amount,
       e.staff_id, e.invoice_id, s.first_name || ' ' || s.last_name AS staff_name
FROM {source} e LEFT JOIN staff s ON s.id = e.staff_id"""


def entry_from_row(row: asyncpg.Record) -> CreditEntry:
    return CreditEntry(**dict(row))


async def lock_balance(conn: asyncpg.Connection, client_id: int) -> Decimal:
    """The client's balance, with the client row locked until the transaction ends."""
    balance: Decimal | None = await conn.fetchval(
        "SELECT credit_balance FROM clients WHERE id = $1 FOR UPDATE", client_id
    )
    if balance is None:
        raise NotFound("Client", "clientId")
    return balance


async def record_entry(
    conn: asyncpg.Connection,
    *,
    client_id: int,
    amount: Decimal,
    description: str,
    staff_id: int | None = None,
    invoice_id: int | None = None,
) -> CreditEntry:
    """Add a signed ledger row and move the balance by it, in the caller's transaction.

    Refused with INSUFFICIENT_CREDIT (field "amount") when the balance would go below zero,
    and INVALID when it would go above what NUMERIC(14, 2) holds.
    """
    async with conn.transaction():
        await _move_balance(conn, client_id, amount)
        row = await conn.fetchrow(
            """WITH inserted AS (
                   INSERT INTO credit_log (client_id, description, amount, staff_id, invoice_id)
                   VALUES ($1, $2, $3, $4, $5) RETURNING *
               ) """
            + ENTRY_SELECT.format(source="inserted"),
            client_id,
            description,
            amount,
            staff_id,
            invoice_id,
        )
        return entry_from_row(row)


async def delete_entry(conn: asyncpg.Connection, entry_id: int) -> CreditEntry:
    """Remove a ledger row and take its amount back out of the balance (SPEC 3.3).

    Refused when the balance would go below zero (or, deleting a removal, above what it can
    hold), and for credit applied to an invoice: that row is the invoice's payment, and
    deleting it would hand the credit out a second time.
    """
    async with conn.transaction():
        client_id = await conn.fetchval("SELECT client_id FROM credit_log WHERE id = $1", entry_id)
        if client_id is None:
            raise NotFound("Credit entry")
        # The client row first, as every other credit change does, so that two deletions and
        # an addition on one client queue up instead of deadlocking.
        await lock_balance(conn, client_id)
        row = await conn.fetchrow(
            ENTRY_SELECT.format(source="credit_log") + " WHERE e.id = $1 FOR UPDATE OF e", entry_id
        )
        if row is None:
            raise NotFound("Credit entry")
        entry = entry_from_row(row)
        if entry.amount < 0 and entry.invoice_id is not None:
            raise DomainError.single(
                ErrorCode.CONFLICT,
                "This entry is credit applied to an invoice; it cannot be deleted.",
                "id",
            )
        await _move_balance(conn, entry.client_id, -entry.amount, field="id")
        await conn.execute("DELETE FROM credit_log WHERE id = $1", entry_id)
        return entry


async def get_entry(conn: asyncpg.Connection, entry_id: int) -> CreditEntry | None:
    return (await entries_by_ids(conn, [entry_id])).get(entry_id)


async def entries_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, CreditEntry]:
    rows = await conn.fetch(
        ENTRY_SELECT.format(source="credit_log") + " WHERE e.id = ANY($1::bigint[])", list(ids)
    )
    return by_id(rows, entry_from_row)


async def entries_by_client(
    conn: asyncpg.Connection, client_ids: Sequence[int], *, per_client: int | None = None
) -> dict[int, list[CreditEntry]]:
    """The ledgers of these clients, newest first, in one query; at most `per_client` each."""
    rows = await conn.fetch(
        first_of_each(
            ENTRY_SELECT.format(source="credit_log")
            + " WHERE e.client_id = {parent} ORDER BY e.created_at DESC, e.id DESC"
        ),
        list(client_ids),
        per_client,
    )
    return grouped(rows, client_ids, entry_from_row)


async def _move_balance(
    conn: asyncpg.Connection, client_id: int, amount: Decimal, *, field: str = "amount"
) -> Decimal:
    balance = await lock_balance(conn, client_id)
    if balance + amount < 0:
        raise DomainError.single(
            ErrorCode.INSUFFICIENT_CREDIT,
            f"The credit balance is {balance}; it cannot go below zero.",
            field,
        )
    check_storable(balance + amount, field, "The credit balance")
    new_balance: Decimal = await conn.fetchval(
        "UPDATE clients SET credit_balance = credit_balance + $2 WHERE id = $1"
        " RETURNING credit_balance",
        client_id,
        amount,
    )
    return new_balance
