"""The audit trail of staff changes to clients (SPEC 10.3): written by every staff use case
in the transaction of its change, and read a page at a time, newest first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from domain.paging import Keyset, Page, PageRequest, fetch_page


async def record(
    conn: asyncpg.Connection,
    *,
    staff_id: int | None,
    action: str,
    client_id: int | None,
    changes: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (staff_id, action, client_id, changes) VALUES ($1, $2, $3, $4)",
        staff_id,
        action,
        client_id,
        changes or {},
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    staff_id: int | None
    # The staff member's name; None for changes made by the system or by a removed account.
    staff_name: str | None
    action: str
    client_id: int | None
    changes: dict[str, Any]
    # The API key the change was made with (on behalf of `staff_id`), if any; and its name.
    api_key_id: int | None
    api_key_name: str | None


# Newest first is highest id first (identity ids grow with time), which the
# (client_id, id DESC) index serves.
AUDIT_LOG = Keyset(
    columns="a.id, a.at, a.staff_id, s.first_name || ' ' || s.last_name AS staff_name, a.action, "
    "a.client_id, a.changes, a.api_key_id, k.name AS api_key_name",
    source="FROM audit_log a LEFT JOIN staff s ON s.id = a.staff_id "
    "LEFT JOIN api_keys k ON k.id = a.api_key_id",
    expression="a.id",
    sql_type="bigint",
    id_column="a.id",
)


def _entry(row: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(**row)


async def audit_entries_by_ids(
    conn: asyncpg.Connection, ids: Sequence[int]
) -> dict[int, AuditEntry]:
    rows = await conn.fetch(
        f"SELECT {AUDIT_LOG.columns} {AUDIT_LOG.source} WHERE a.id = ANY($1::bigint[])",
        list(ids),
    )
    return {row["id"]: _entry(row) for row in rows}


async def audit_entries(
    conn: asyncpg.Connection,
    request: PageRequest,
    *,
    client_id: int | None,
    look_behind: bool = True,
) -> Page[AuditEntry]:
    """A page of the audit log, newest first, of one client or of all. Entries outlive their
    client (a deleted client's trail stays readable by its id)."""
    return await fetch_page(
        conn,
        AUDIT_LOG,
        request,
        _entry,
        conditions=["a.client_id = $1"] if client_id is not None else [],
        params=[client_id] if client_id is not None else [],
        descending=True,
        look_behind=look_behind,
    )
