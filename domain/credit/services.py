"""Staff credit use cases (SPEC 3.1–3.3): checked input, one ledger row, an audit entry, and
an optional idempotency key so that a retried request never credits twice."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from domain import audit
from domain.clients.models import Client
from domain.clients.queries import get_client
from domain.credit import ledger
from domain.credit.ledger import CreditEntry
from domain.errors import DomainError, NotFound
from domain.idempotency import idempotent
from domain.money import exact_decimal, parse_amount
from domain.validation import InputCheck


@dataclass(frozen=True)
class CreditChange:
    client: Client
    # None only when a retried request's entry has been deleted since.
    entry: CreditEntry | None


async def add_credit(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    amount: Decimal | str | int,
    description: str,
    staff_id: int | None,
    login_id: int,
    idempotency_key: str | None = None,
) -> CreditChange:
    """Raise the balance by a positive amount, logged with its description (SPEC 3.1)."""
    return await _change(
        conn,
        client_id,
        operation="addCredit",
        amount=amount,
        text_field="description",
        text=description,
        sign=1,
        staff_id=staff_id,
        login_id=login_id,
        idempotency_key=idempotency_key,
    )


async def remove_credit(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    amount: Decimal | str | int,
    reason: str,
    staff_id: int | None,
    login_id: int,
    idempotency_key: str | None = None,
) -> CreditChange:
    """Lower the balance by a positive amount, never below zero; logged negative (SPEC 3.2)."""
    return await _change(
        conn,
        client_id,
        operation="removeCredit",
        amount=amount,
        text_field="reason",
        text=reason,
        sign=-1,
        staff_id=staff_id,
        login_id=login_id,
        idempotency_key=idempotency_key,
    )


async def delete_credit_entry(
    conn: asyncpg.Connection, entry_id: int, *, staff_id: int | None
) -> CreditChange:
    """Delete a log entry and deduct its amount, never below zero (SPEC 3.3)."""
    async with conn.transaction():
        entry = await ledger.delete_entry(conn, entry_id)
        await audit.record(
            conn,
            staff_id=staff_id,
            action="credit.entry_deleted",
            client_id=entry.client_id,
            changes={
                "entry_id": entry.id,
                "amount": entry.amount,
                "description": entry.description,
            },
        )
        return CreditChange(client=await _client(conn, entry.client_id), entry=entry)


async def _change(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    operation: str,
    amount: Decimal | str | int,
    text_field: str,
    text: str,
    sign: int,
    staff_id: int | None,
    login_id: int,
    idempotency_key: str | None,
) -> CreditChange:
    async def perform() -> dict[str, Any]:
        value, cleaned = _checked(amount, text_field, text)
        entry = await ledger.record_entry(
            conn, client_id=client_id, amount=sign * value, description=cleaned, staff_id=staff_id
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="credit.added" if sign > 0 else "credit.removed",
            client_id=client_id,
            changes={"entry_id": entry.id, "amount": entry.amount, text_field: cleaned},
        )
        return {"entry_id": entry.id}

    async with conn.transaction():
        result = await idempotent(
            conn,
            login_id=login_id,
            key=idempotency_key,
            operation=operation,
            # The amount as a number: "5" and "5.00" are the same request.
            arguments={"clientId": client_id, "amount": exact_decimal(amount), text_field: text},
            perform=perform,
        )
        entry = await ledger.get_entry(conn, result["entry_id"])
        return CreditChange(client=await _client(conn, client_id), entry=entry)


def _checked(amount: Decimal | str | int, text_field: str, text: str) -> tuple[Decimal, str]:
    """The amount and the description or reason, every problem reported at once."""
    check = InputCheck()
    value = Decimal(0)
    try:
        value = parse_amount(amount, "amount")
    except DomainError as error:
        check.errors += error.errors
    cleaned = check.required_text(text_field, text, text_field.capitalize())
    check.raise_if_failed()
    return value, cleaned


async def _client(conn: asyncpg.Connection, client_id: int) -> Client:
    client = await get_client(conn, client_id)
    if client is None:
        raise NotFound("Client", "clientId")
    return client
