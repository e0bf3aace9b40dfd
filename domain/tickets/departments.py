"""Ticket departments (SPEC 15.1): who answers a kind of ticket, and the address its emails
go from. Staff keep them; the client area chooses one when it opens a ticket."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain import audit
from domain.errors import DomainError, ErrorCode, NotFound
from domain.tickets.models import DEPARTMENT_COLUMNS, Department
from domain.validation import InputCheck

MAX_NAME = 100
_NAME_TAKEN = DomainError.single(ErrorCode.CONFLICT, "Another department has this name.", "name")


def _department(row: asyncpg.Record) -> Department:
    return Department(**dict(row))


async def departments(conn: asyncpg.Connection) -> list[Department]:
    """Every department, by name."""
    rows = await conn.fetch(
        f"SELECT {DEPARTMENT_COLUMNS} FROM ticket_departments d ORDER BY lower(d.name), d.id"
    )
    return [_department(row) for row in rows]


async def departments_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Department]:
    rows = await conn.fetch(
        f"SELECT {DEPARTMENT_COLUMNS} FROM ticket_departments d WHERE d.id = ANY($1::bigint[])",
        list(ids),
    )
    return {row["id"]: _department(row) for row in rows}


async def check_department(
    conn: asyncpg.Connection, department_id: int | None, field: str = "department_id"
) -> int | None:
    """The id of an existing department (None: none chosen); NOT_FOUND on `field` else."""
    if department_id is None:
        return None
    found = await conn.fetchval(
        "SELECT id FROM ticket_departments WHERE id = $1 FOR KEY SHARE", department_id
    )
    if found is None:
        raise NotFound("Department", field)
    return department_id


async def save_department(
    conn: asyncpg.Connection,
    department_id: int | None,
    name: str | None,
    email: str | None,
    *,
    staff_id: int | None,
) -> Department:
    """Add a department (no id) or change one: a name no other department has (whatever
    its case) and the address its emails go from."""
    check = InputCheck()
    cleaned = (name or "").strip()
    if not cleaned:
        check.fail("name", ErrorCode.REQUIRED, "The name is required.")
    else:
        check.optional_text("name", cleaned, "The name", MAX_NAME)
    address = check.email("email", email)
    check.raise_if_failed()
    try:
        if department_id is None:
            row = await conn.fetchrow(
                f"""INSERT INTO ticket_departments AS d (name, email) VALUES ($1, $2)
                    RETURNING {DEPARTMENT_COLUMNS}""",
                cleaned,
                address,
            )
        else:
            row = await conn.fetchrow(
                f"""UPDATE ticket_departments AS d SET name = $2, email = $3, updated_at = now()
                     WHERE id = $1 RETURNING {DEPARTMENT_COLUMNS}""",
                department_id,
                cleaned,
                address,
            )
    except asyncpg.UniqueViolationError:
        raise _NAME_TAKEN from None
    if row is None:
        raise NotFound("Department")
    saved = _department(row)
    await audit.record(
        conn,
        staff_id=staff_id,
        action="ticket_department.created"
        if department_id is None
        else "ticket_department.updated",
        client_id=None,
        changes={"department_id": saved.id, "name": saved.name, "email": saved.email},
    )
    return saved
