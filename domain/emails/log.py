"""The email log as the API reads it: a client's sent emails, the failed ones, and the
outbox in figures. The outbox itself (queueing, sending, retrying) is domain/emails/outbox.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

import asyncpg

from domain.nested import first_of_each, grouped
from domain.paging import Keyset, Page, PageRequest, fetch_page, reads_tail
from domain.totals import Total, count_rows


class EmailStatus(StrEnum):
    QUEUED = "QUEUED"  # waiting for its first or next attempt
    SENT = "SENT"
    FAILED = "FAILED"  # given up on after the last allowed attempt, or unsendable as it is


@dataclass(frozen=True)
class ShownEmail:
    """An outbox row as the API shows it (a client's email log, the failed list, `node`):
    without what only composing it needs, so that reading a log decodes no template
    context."""

    id: int
    client_id: int | None
    template: str
    to_address: str
    message_id: str
    subject: str | None
    body: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    failed_at: datetime | None

    @property
    def status(self) -> EmailStatus:
        if self.sent_at is not None:
            return EmailStatus.SENT
        return EmailStatus.QUEUED if self.failed_at is None else EmailStatus.FAILED


Row = TypeVar("Row", bound=ShownEmail)


def reading(kind: type[Row]) -> tuple[str, Callable[[asyncpg.Record], Row]]:
    """The columns a statement selects for rows of `kind` (last, in this order), and how a
    fetched row becomes one: by position, as 12 lookups by name cost more than the row."""
    names = tuple(f.name for f in fields(kind))
    count = len(names)

    @reads_tail
    def read(row: asyncpg.Record) -> Row:
        return kind(*list(row.values())[-count:])

    return ", ".join(names), read


_SHOWN_COLUMNS, _shown_email = reading(ShownEmail)


# The emails given up on, newest first (by id, on the partial index of failed emails).
FAILED_EMAILS = Keyset(
    columns=_SHOWN_COLUMNS, source="FROM emails", expression="id", sql_type="bigint", id_column="id"
)


async def failed_emails(
    conn: asyncpg.Connection, request: PageRequest, *, look_behind: bool = True
) -> Page[ShownEmail]:
    """A page of the emails given up on, newest first."""
    return await fetch_page(
        conn,
        FAILED_EMAILS,
        request,
        _shown_email,
        conditions=["failed_at IS NOT NULL"],
        descending=True,
        look_behind=look_behind,
    )


async def count_failed_emails(conn: asyncpg.Connection) -> Total:
    return await count_rows(conn, "FROM emails", conditions=["failed_at IS NOT NULL"])


@dataclass(frozen=True)
class OutboxFigures:
    pending: int  # not sent yet and not given up on: the outbox depth
    sent: int
    failed: int


async def outbox_figures(conn: asyncpg.Connection) -> OutboxFigures:
    """The outbox in three numbers, each counted on its own partial index."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM emails WHERE sent_at IS NULL AND failed_at IS NULL)
                      AS pending,
                  (SELECT count(*) FROM emails WHERE sent_at IS NOT NULL) AS sent,
                  (SELECT count(*) FROM emails WHERE failed_at IS NOT NULL) AS failed"""
    )
    return OutboxFigures(pending=row["pending"], sent=row["sent"], failed=row["failed"])


async def sent_emails_by_client(
    conn: asyncpg.Connection, client_ids: Sequence[int], *, per_client: int | None = None
) -> dict[int, list[ShownEmail]]:
    """The email log of several clients at once, newest first; at most `per_client` each."""
    rows = await conn.fetch(
        first_of_each(
            f"""SELECT {_SHOWN_COLUMNS} FROM emails
                 WHERE client_id = {{parent}} AND sent_at IS NOT NULL ORDER BY sent_at DESC"""
        ),
        list(client_ids),
        per_client,
    )
    return grouped(rows, client_ids, _shown_email)


async def sent_emails_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, ShownEmail]:
    """Sent emails by id (one that is not sent yet, or failed, is not in the log)."""
    rows = await conn.fetch(
        f"SELECT {_SHOWN_COLUMNS} FROM emails WHERE id = ANY($1::bigint[]) AND sent_at IS NOT NULL",
        list(ids),
    )
    return {row["id"]: _shown_email(row) for row in rows}
