"""The events table: what a trigger recorded with each committed change, read by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg

# Where a statement's events are announced: "<xid> <first id> <last id>".
EVENTS_CHANNEL = "clientdesk_events"
# Where a change to someone's right to read is announced: a login id, or "*" for any.
ACCESS_CHANNEL = "clientdesk_access"
ANY_LOGIN = "*"


class Topic(StrEnum):
    CLIENT = "CLIENT"
    INVOICE = "INVOICE"
    TICKET = "TICKET"
    EMAIL = "EMAIL"
    AUTOMATION_RUN = "AUTOMATION_RUN"


class EventKind(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    topic: Topic
    kind: EventKind
    object_id: int
    client_id: int | None
    at: datetime
    # Only staff may receive it (an internal note's, on a ticket).
    staff_only: bool = False


@dataclass(frozen=True)
class Announcement:
    """One statement's events, as its NOTIFY names them."""

    xid: int
    first_id: int
    last_id: int

    @classmethod
    def parse(cls, payload: str) -> Announcement:
        xid, first_id, last_id = (int(part) for part in payload.split())
        return cls(xid, first_id, last_id)


_COLUMNS = "id, topic, kind, object_id, client_id, at, staff_only"


def _event(row: asyncpg.Record) -> Event:
    return Event(
        row["id"],
        Topic(row["topic"]),
        EventKind(row["kind"]),
        row["object_id"],
        row["client_id"],
        row["at"],
        row["staff_only"],
    )


async def announced_events(conn: asyncpg.Connection, announced: Announcement) -> list[Event]:
    """The events one NOTIFY announced: other transactions' ids may lie in its range."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM events
             WHERE id BETWEEN $1 AND $2 AND xid = $3::text::xid8 ORDER BY id""",
        announced.first_id,
        announced.last_id,
        str(announced.xid),
    )
    return [_event(row) for row in rows]


async def events_after(
    conn: asyncpg.Connection,
    after_id: int,
    *,
    limit: int,
    topic: Topic | None = None,
    client_id: int | None = None,
) -> list[Event]:
    """Committed events after `after_id` in id order, of one topic and client if given."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM events
             WHERE id > $1 AND ($2::text IS NULL OR topic = $2)
               AND ($3::bigint IS NULL OR client_id = $3)
             ORDER BY id LIMIT $4""",
        after_id,
        topic,
        client_id,
        limit,
    )
    return [_event(row) for row in rows]


async def last_event_id(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT COALESCE(max(id), 0) FROM events"))


async def purge_events(conn: asyncpg.Connection, retention: timedelta) -> int:
    """Delete the events older than the retention window; how many went."""
    result: str = await conn.execute(
        "DELETE FROM events WHERE at < now() - $1::interval", retention
    )
    return int(result.split()[-1])
