"""The transactional outbox (SPEC 8.2).

`queue_email` writes a row inside the caller's transaction, so the email exists exactly when
the change that causes it commits. Workers claim rows with a row lock, send them, and mark
them sent in the same transaction; a row already marked sent is never sent again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from domain.emails.templates import TEMPLATES


@dataclass(frozen=True)
class Email:
    id: int
    client_id: int | None
    template: str
    category: str
    to_address: str
    to_name: str | None
    context: dict[str, Any]
    message_id: str
    subject: str | None
    body: str | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None


_COLUMNS = """id, client_id, template, category, to_address, to_name, context, message_id,
              subject, body, attempts, created_at, sent_at"""


def _email(row: asyncpg.Record) -> Email:
    return Email(**dict(row))


async def queue_email(
    conn: asyncpg.Connection,
    *,
    template: str,
    to_address: str,
    to_name: str | None,
    client_id: int | None,
    context: dict[str, Any],
) -> int:
    """Add an email to the outbox in the current transaction; return its id."""
    spec = TEMPLATES[template]
    email_id: int = await conn.fetchval(
        """INSERT INTO emails (client_id, template, category, to_address, to_name, context,
                                message_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        client_id,
        template,
        spec.category.value,
        to_address,
        to_name,
        context,
        # Stable across resends, so a duplicate after a crash can be recognised by the reader.
        f"<{uuid.uuid4().hex}@clientdesk>",
    )
    return email_id


async def current_transaction_id(conn: asyncpg.Connection) -> int | None:
    """The id of the open transaction if it has written anything, else None."""
    xid = await conn.fetchval("SELECT pg_current_xact_id_if_assigned()::text::bigint")
    return int(xid) if xid is not None else None


async def emails_queued_by_transaction(conn: asyncpg.Connection, xid: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT id FROM emails WHERE created_xid = $1::text::xid8 AND sent_at IS NULL ORDER BY id",
        str(xid),
    )
    return [r["id"] for r in rows]


async def unsent_email_ids(conn: asyncpg.Connection, *, older_than_seconds: int) -> list[int]:
    """Emails committed but still unsent after a while: their enqueue may have been lost."""
    rows = await conn.fetch(
        """SELECT id FROM emails
            WHERE sent_at IS NULL AND created_at < now() - make_interval(secs => $1)
            ORDER BY id LIMIT 1000""",
        older_than_seconds,
    )
    return [r["id"] for r in rows]


async def claim_email(conn: asyncpg.Connection, email_id: int) -> Email | None:
    """Lock an unsent email for sending within the caller's transaction.

    None when it is already sent, gone, or being sent by another worker right now.
    """
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM emails WHERE id = $1 AND sent_at IS NULL FOR UPDATE SKIP LOCKED",
        email_id,
    )
    return _email(row) if row else None


async def mark_sent(conn: asyncpg.Connection, email_id: int, *, subject: str, body: str) -> None:
    await conn.execute(
        """UPDATE emails SET sent_at = now(), subject = $2, body = $3, attempts = attempts + 1,
                             last_error = NULL
            WHERE id = $1""",
        email_id,
        subject,
        body,
    )


async def record_failure(conn: asyncpg.Connection, email_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE emails SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
        email_id,
        error[:1000],
    )


async def sent_emails_by_client(
    conn: asyncpg.Connection, client_ids: list[int], *, limit_per_client: int = 100
) -> dict[int, list[Email]]:
    """The email log of several clients at once, newest first."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM (
                SELECT e.*, row_number() OVER (PARTITION BY client_id ORDER BY sent_at DESC) AS n
                  FROM emails e
                 WHERE client_id = ANY($1::bigint[]) AND sent_at IS NOT NULL
            ) ranked WHERE n <= $2 ORDER BY client_id, sent_at DESC""",
        client_ids,
        limit_per_client,
    )
    by_client: dict[int, list[Email]] = {cid: [] for cid in client_ids}
    for row in rows:
        by_client[row["client_id"]].append(_email(row))
    return by_client
