"""API keys administered by staff with MANAGE_STAFF (SPEC 11.3): made for a role, shown once,
listed, revoked. What a request does with one is domain/auth/api_keys.py's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from domain import audit
from domain.auth.api_keys import new_secret
from domain.errors import ErrorCode, NotFound
from domain.staff.roles import ROLE_COLUMNS, Role, role, role_by_id
from domain.validation import InputCheck


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


_SELECT = f"""SELECT k.id, k.name, k.prefix, k.created_at, k.last_used_at, k.expires_at,
                     {ROLE_COLUMNS}
                FROM api_keys k JOIN staff_roles r ON r.id = k.role_id"""


def _key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        role=role(row),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
    )


async def api_keys(conn: asyncpg.Connection) -> list[ApiKey]:
    """The keys in use (neither revoked nor expired), newest first."""
    rows = await conn.fetch(
        f"""{_SELECT} WHERE k.revoked_at IS NULL
                        AND (k.expires_at IS NULL OR k.expires_at > now())
                      ORDER BY k.id DESC"""
    )
    return [_key(row) for row in rows]


async def api_keys_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, ApiKey]:
    """Of these ids, the keys in use, as `api_keys` lists them."""
    rows = await conn.fetch(
        f"""{_SELECT} WHERE k.id = ANY($1::bigint[]) AND k.revoked_at IS NULL
                        AND (k.expires_at IS NULL OR k.expires_at > now())""",
        list(ids),
    )
    return {row["id"]: _key(row) for row in rows}


async def create_api_key(
    conn: asyncpg.Connection,
    *,
    name: str,
    role_id: int,
    expires_at: datetime | None,
    staff_id: int,
) -> tuple[ApiKey, str]:
    """A new key of `staff_id`'s for the role, and its secret: shown now, never again."""
    check = InputCheck()
    cleaned = check.required_text("name", name, "Name")
    if expires_at is not None and expires_at.tzinfo is None:
        check.fail("expires_at", ErrorCode.INVALID, "The expiry needs a time zone.")
    elif expires_at is not None and expires_at <= datetime.now(UTC):
        check.fail("expires_at", ErrorCode.INVALID, "The expiry is in the past.")
    check.raise_if_failed()
    await role_by_id(conn, role_id)
    made = new_secret()
    key_id = await conn.fetchval(
        """INSERT INTO api_keys (name, prefix, secret_hash, staff_id, role_id, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        cleaned,
        made.prefix,
        made.secret_hash,
        staff_id,
        role_id,
        expires_at,
    )
    key = _key(await conn.fetchrow(f"{_SELECT} WHERE k.id = $1", key_id))
    await audit.record(
        conn,
        staff_id=staff_id,
        action="api_key.created",
        client_id=None,
        changes={"api_key_id": key.id, "name": key.name, "role": key.role.name},
    )
    return key, made.secret


async def revoke_api_key(conn: asyncpg.Connection, key_id: int, *, staff_id: int) -> None:
    """Revoke a key in use: it is refused from the next request on."""
    name = await conn.fetchval(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL "
        "RETURNING name",
        key_id,
    )
    if name is None:
        raise NotFound("API key")
    await audit.record(
        conn,
        staff_id=staff_id,
        action="api_key.revoked",
        client_id=None,
        changes={"api_key_id": key_id, "name": name},
    )
