"""The client's currency (SPEC 1.6): fixed by the first order, later only relabelled."""

from __future__ import annotations

import asyncpg

from domain.errors import DomainError, ErrorCode

CURRENCY_CHANGE_WARNING = (
    "The client already has invoices or transactions: their amounts are not converted, "
    "they are only shown with the new currency's symbol."
)


async def order_currency(
    conn: asyncpg.Connection, client_id: int, current: str, requested: str | None
) -> str:
    """The currency of a new order. The first order may choose it, which fixes the client's
    currency; later orders use the client's. Call with the client's row locked."""
    if requested is None or not requested.strip():
        return current
    code = requested.strip().upper()
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM currencies WHERE code = $1)", code):
        raise DomainError.single(
            ErrorCode.INVALID, f"'{code}' is not a currency of this installation.", "currency"
        )
    if code == current:
        return code
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM orders WHERE client_id = $1)", client_id):
        raise DomainError.single(
            ErrorCode.INVALID,
            f"The client's currency is {current}, fixed by its first order.",
            "currency",
        )
    await conn.execute(
        "UPDATE clients SET currency = $2, updated_at = now() WHERE id = $1", client_id, code
    )
    return code


async def currency_change_warning(conn: asyncpg.Connection, client_id: int) -> str | None:
    """What staff must know when they change the currency of a client who was billed."""
    billed = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM invoices WHERE client_id = $1)
               OR EXISTS (SELECT 1 FROM transactions WHERE client_id = $1)""",
        client_id,
    )
    return CURRENCY_CHANGE_WARNING if billed else None
