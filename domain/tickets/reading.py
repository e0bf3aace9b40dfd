"""Tickets and their messages as the API reads them, several parents per statement (the
loaders' batches)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.nested import first_of_each, grouped
from domain.tickets.models import (
    MESSAGE_COLUMNS,
    TICKET_COLUMNS,
    Opener,
    Ticket,
    TicketMessage,
    TicketStatus,
)


def ticket_from_row(row: asyncpg.Record) -> Ticket:
    values = dict(row)
    values["opened_by"] = Opener(row["opened_by"])
    values["status"] = TicketStatus(row["status"])
    return Ticket(**values)


def _message(row: asyncpg.Record) -> TicketMessage:
    return TicketMessage(**dict(row))


async def tickets_by_client(
    conn: asyncpg.Connection, client_ids: Sequence[int], *, per_client: int | None = None
) -> dict[int, list[Ticket]]:
    """The tickets of several clients, newest first; at most `per_client` each."""
    rows = await conn.fetch(
        first_of_each(
            f"""SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.client_id = {{parent}}
                 ORDER BY t.id DESC"""
        ),
        list(client_ids),
        per_client,
    )
    return grouped(rows, client_ids, ticket_from_row)


async def tickets_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Ticket]:
    rows = await conn.fetch(
        f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE id = ANY($1::bigint[])", list(ids)
    )
    return {row["id"]: ticket_from_row(row) for row in rows}


async def messages_by_ticket(
    conn: asyncpg.Connection, ticket_ids: Sequence[int]
) -> dict[int, list[TicketMessage]]:
    """The messages of several tickets, oldest first."""
    rows = await conn.fetch(
        f"""SELECT {MESSAGE_COLUMNS} FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id
             WHERE m.ticket_id = ANY($1::bigint[]) ORDER BY m.ticket_id, m.id""",
        list(ticket_ids),
    )
    by_ticket: dict[int, list[TicketMessage]] = {tid: [] for tid in ticket_ids}
    for row in rows:
        by_ticket[row["ticket_id"]].append(_message(row))
    return by_ticket


async def messages_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, TicketMessage]:
    rows = await conn.fetch(
        f"""SELECT {MESSAGE_COLUMNS} FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id
             WHERE m.id = ANY($1::bigint[])""",
        list(ids),
    )
    return {row["id"]: _message(row) for row in rows}
