"""Idempotency keys for money mutations (Stripe's semantics).

A client that retries after a timeout sends the same key again: with the same operation and
arguments it gets the first result back and nothing happens twice; with anything else the
key is refused. Keys belong to the login that used them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from domain.errors import DomainError, ErrorCode

FIELD = "idempotencyKey"
MAX_KEY_LENGTH = 255
# How long a key is remembered: far longer than any client keeps retrying one request.
KEY_LIFETIME = timedelta(hours=24)


async def idempotent(
    conn: asyncpg.Connection,
    *,
    login_id: int,
    key: str | None,
    operation: str,
    arguments: Mapping[str, Any],
    perform: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run `perform()` once per key; the key row and the effect commit (or not) together.

    Concurrent first uses of one key serialise on the key's primary key: the second insert
    waits for the first transaction, then finds its row and returns its result (or, if the
    first rolled back, performs the operation itself).
    """
    if key is None:
        return await perform()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError.single(
            ErrorCode.INVALID, f"An idempotency key has 1 to {MAX_KEY_LENGTH} characters.", FIELD
        )
    fingerprint = _fingerprint(operation, arguments)
    async with conn.transaction():
        claimed = await conn.fetchval(
            """INSERT INTO idempotency_keys (login_id, key, operation, fingerprint)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
            login_id,
            key,
            operation,
            fingerprint,
        )
        if claimed:
            result = await perform()
            await conn.execute(
                "UPDATE idempotency_keys SET result = $3::text::jsonb"
                " WHERE login_id = $1 AND key = $2",
                login_id,
                key,
                json.dumps(result),
            )
            return result
        row = await conn.fetchrow(
            """SELECT fingerprint, result::text AS result FROM idempotency_keys
               WHERE login_id = $1 AND key = $2""",
            login_id,
            key,
        )
    if row is None or row["fingerprint"] != fingerprint:
        raise DomainError.single(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was already used for a different request.",
            FIELD,
        )
    stored: dict[str, Any] = json.loads(row["result"])
    return stored


async def delete_expired_keys(conn: asyncpg.Connection) -> int:
    """Forget keys older than KEY_LIFETIME; a request sent again after that is a new one."""
    status: str = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", KEY_LIFETIME
    )
    return int(status.split()[-1])


def _fingerprint(operation: str, arguments: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"operation": operation, "arguments": arguments},
        sort_keys=True,
        separators=(",", ":"),
        default=_canonical_value,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical_value(value: object) -> str:
    # 1.5 and 1.50 are the same amount, so they must make the same fingerprint.
    if isinstance(value, Decimal) and value.is_finite():
        return f"{value.normalize():f}"
    return str(value)
