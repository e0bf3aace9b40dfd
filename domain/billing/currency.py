"""The client's currency (SPEC 1.6, 13.4): chosen by the first order, or changed by staff, only
while the client has no money and no history in the one it has."""

from __future__ import annotations

import asyncpg

from domain.errors import DomainError, ErrorCode
from domain.validation import InputCheck


async def check_currency_change(
    conn: asyncpg.Connection, check: InputCheck, client_id: int, current: str, new: str
) -> None:
    """Fail "currency" with CURRENCY_IN_USE when the client holds credit or has orders,
    invoices, transactions or credit log entries in `current`: money in one currency is never
    spent or shown as another, and nothing is ever converted. Call with the client row locked,
    so that no credit or invoice appears before the change is written."""
    row = await conn.fetchrow(
        """SELECT c.credit_balance > 0 AS credit,
                  EXISTS (SELECT 1 FROM orders WHERE client_id = c.id)
                  OR EXISTS (SELECT 1 FROM invoices WHERE client_id = c.id)
                  OR EXISTS (SELECT 1 FROM transactions WHERE client_id = c.id)
                  OR EXISTS (SELECT 1 FROM credit_log WHERE client_id = c.id) AS history
             FROM clients c WHERE c.id = $1""",
        client_id,
    )
    if row is None or not (row["credit"] or row["history"]):
        return
    held = "holds credit" if row["credit"] else "has orders, invoices, payments or credit"
    check.fail(
        "currency",
        ErrorCode.CURRENCY_IN_USE,
        f"The client {held} in {current}; its currency cannot become {new}, since amounts "
        "are never converted.",
    )


async def order_currency(
    conn: asyncpg.Connection, client_id: int, current: str, requested: str | None
) -> str:
    """The currency of a new order. An order may choose one only while the client has no
    money or history in its own (the first order, usually), which then becomes the client's;
    otherwise orders use the client's. Call with the client's row locked."""
    if requested is None or not requested.strip():
        return current
    code = requested.strip().upper()
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM currencies WHERE code = $1)", code):
        raise DomainError.single(
            ErrorCode.INVALID, f"'{code}' is not a currency of this installation.", "currency"
        )
    if code == current:
        return code
    check = InputCheck()
    await check_currency_change(conn, check, client_id, current, code)
    check.raise_if_failed()
    await conn.execute(
        "UPDATE clients SET currency = $2, updated_at = now() WHERE id = $1", client_id, code
    )
    return code
