"""The transactional outbox (SPEC 8.2).

`queue_email` writes a row inside the caller's transaction, so the email exists exactly when
the change that causes it commits. Workers claim rows with a row lock, send them, and mark
them sent in the same transaction; a row already marked sent is never sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from domain.emails.templates import TEMPLATES, EmailCategory


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
    contact_id: int | None = None,
) -> int:
    """Add an email to the outbox in the current transaction; return its id.

    The database gives it a Message-ID that stays the same across resends, so a duplicate
    after a crash can be recognised by the reader."""
    email_id: int = await conn.fetchval(
        """INSERT INTO emails (client_id, contact_id, template, category, to_address, to_name,
                               context)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        client_id,
        contact_id,
        template,
        TEMPLATES[template].category.value,
        to_address,
        to_name,
        context,
    )
    return email_id


async def queue_client_email(
    conn: asyncpg.Connection, client_id: int, *, template: str, context: dict[str, Any]
) -> list[int]:
    """Queue a client email and its contact copies; return the ids, the main one first.

    Invoice emails go to the default billing contact when one is set (SPEC 2.5); contacts
    whose preferences tick the email's category get a copy (SPEC 2.2, 8.3). Account emails
    (logins, passwords) go to their owner only.
    """
    category = TEMPLATES[template].category
    recipient = await conn.fetchrow(
        """SELECT coalesce(bc.email, c.email)::text AS email,
                  coalesce(bc.first_name || ' ' || bc.last_name,
                           c.first_name || ' ' || c.last_name) AS name,
                  bc.id AS contact_id
             FROM clients c
             LEFT JOIN contacts bc ON bc.id = c.billing_contact_id AND $2
            WHERE c.id = $1""",
        client_id,
        category is EmailCategory.INVOICE,
    )
    main_id = await queue_email(
        conn,
        template=template,
        to_address=recipient["email"],
        to_name=recipient["name"],
        client_id=client_id,
        context=context,
        contact_id=recipient["contact_id"],
    )
    if category is EmailCategory.ACCOUNT:
        return [main_id]
    copies = await conn.fetch(
        """INSERT INTO emails (client_id, contact_id, template, category, to_address, to_name,
                               context)
           SELECT client_id, id, $3, $4, email, first_name || ' ' || last_name, $5
             FROM contacts
            WHERE client_id = $1 AND $4 = ANY(email_preferences)
              AND id IS DISTINCT FROM $2 AND email <> $6  -- one email per address
            ORDER BY id
           RETURNING id""",
        client_id,
        recipient["contact_id"],
        template,
        category.value,
        context,
        recipient["email"],
    )
    return [main_id, *(row["id"] for row in copies)]


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
    """Emails committed but still unsent after a while: their enqueue may have been lost.

    The least-tried come first, so a backlog of failing emails cannot starve new ones."""
    rows = await conn.fetch(
        """SELECT id FROM emails
            WHERE sent_at IS NULL AND created_at < now() - make_interval(secs => $1)
            ORDER BY attempts, id LIMIT 1000""",
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


async def sent_emails_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Email]:
    """Sent emails by id (one that is not sent yet, or failed, is not in the log)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM emails WHERE id = ANY($1::bigint[]) AND sent_at IS NOT NULL",
        list(ids),
    )
    return {row["id"]: _email(row) for row in rows}
