"""Ledger rows and the one way to write them: under the client's row lock, balance kept equal
to the sum of the rows (SPEC 3.6). Staff use cases and billing (3.4, 3.5) both go through it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from domain.errors import DomainError, ErrorCode, NotFound


@dataclass(frozen=True)
class CreditEntry:
    id: int
    client_id: int
    date: datetime
    description: str
    amount: Decimal
    staff_id: int | None
    invoice_id: int | None


ENTRY_COLUMNS = "id, client_id, created_at AS date, description, amount, staff_id, invoice_id"


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

    Refused with INSUFFICIENT_CREDIT (field "amount") when the balance would go below zero.
    """
    async with conn.transaction():
        await _move_balance(conn, client_id, amount)
        row = await conn.fetchrow(
            f"""INSERT INTO credit_log (client_id, description, amount, staff_id, invoice_id)
                VALUES ($1, $2, $3, $4, $5) RETURNING {ENTRY_COLUMNS}""",
            client_id,
            description,
            amount,
            staff_id,
            invoice_id,
        )
        return entry_from_row(row)


async def delete_entry(conn: asyncpg.Connection, entry_id: int) -> CreditEntry:
    """Remove a ledger row and take its amount back out of the balance (SPEC 3.3).

    Refused when the balance would go below zero, and for credit applied to an invoice: that
    row is the invoice's payment, and deleting it would hand the credit out a second time.
    """
    async with conn.transaction():
        client_id = await conn.fetchval("SELECT client_id FROM credit_log WHERE id = $1", entry_id)
        if client_id is None:
            raise NotFound("Credit entry")
        # The client row first, as every other credit change does, so that two deletions and
        # an addition on one client queue up instead of deadlocking.
        await lock_balance(conn, client_id)
        row = await conn.fetchrow(
            f"SELECT {ENTRY_COLUMNS} FROM credit_log WHERE id = $1 FOR UPDATE", entry_id
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


async def entries_of(conn: asyncpg.Connection, client_id: int) -> list[CreditEntry]:
    """The client's ledger, newest first."""
    rows = await conn.fetch(
        f"""SELECT {ENTRY_COLUMNS} FROM credit_log WHERE client_id = $1
            ORDER BY created_at DESC, id DESC""",
        client_id,
    )
    return [entry_from_row(row) for row in rows]


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
    new_balance: Decimal = await conn.fetchval(
        "UPDATE clients SET credit_balance = credit_balance + $2 WHERE id = $1"
        " RETURNING credit_balance",
        client_id,
        amount,
    )
    return new_balance
