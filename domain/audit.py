"""The audit trail of staff changes to clients (SPEC 10.3)."""

from __future__ import annotations

from typing import Any

import asyncpg


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
