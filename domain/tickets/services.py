"""Support ticket use cases (SPEC 2.3, 8.1).

A ticket is opened by the account holder or one of its contacts, in the client area or by
inbound email from their address; an email whose subject carries a ticket's reference
("[Ticket #123-<reply token>]") adds to that ticket instead, when its sender may write in
it. Staff replies go, as "Support Ticket Reply", to the ticket's opener only: a SUPPORT
contact is emailed about tickets it opened, never copied on every ticket, so replies bypass
the category copies of `queue_client_email`.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from domain import audit
from domain.emails.outbox import queue_email
from domain.errors import DomainError, ErrorCode, NotFound
from domain.nested import first_of_each, grouped
from domain.tickets import inbound
from domain.tickets.models import (
    MAX_MESSAGE,
    MAX_SUBJECT,
    MESSAGE_COLUMNS,
    TICKET_COLUMNS,
    Opener,
    Ticket,
    TicketMessage,
    TicketStatus,
)
from domain.validation import InputCheck, normalize_email


@dataclass(frozen=True)
class Writer:
    """A client-side author: the account holder (contact_id None) or one of its contacts."""

    client_id: int
    contact_id: int | None
    name: str
    email: str

    @property
    def author(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class Received:
    """What an inbound email did: opened `ticket`, or (`opened` false) added to it."""

    ticket: Ticket
    opened: bool


def ticket_from_row(row: asyncpg.Record) -> Ticket:
    values = dict(row)
    values["opened_by"] = Opener(row["opened_by"])
    values["status"] = TicketStatus(row["status"])
    return Ticket(**values)


def _message(row: asyncpg.Record) -> TicketMessage:
    return TicketMessage(**dict(row))


def _check_message(check: InputCheck, field: str, value: str | None) -> str:
    message = (value or "").strip()
    if not message:
        check.fail(field, ErrorCode.REQUIRED, "The message is required.")
    else:
        check.optional_text(field, message, "The message", MAX_MESSAGE, multiline=True)
    return message


def _check_subject(check: InputCheck, field: str, value: str | None) -> str:
    subject = (value or "").strip()
    if not subject:
        check.fail(field, ErrorCode.REQUIRED, "The subject is required.")
    else:
        check.optional_text(field, subject, "The subject", MAX_SUBJECT)
    return subject


async def writer_of_viewer(
    conn: asyncpg.Connection, client_id: int, contact_id: int | None
) -> Writer:
    """The client-area viewer as an author: its contact, or the account holder."""
    if contact_id is None:
        row = await conn.fetchrow(
            "SELECT first_name || ' ' || last_name AS name, email::text AS email "
            "FROM clients WHERE id = $1",
            client_id,
        )
    else:
        row = await conn.fetchrow(
            "SELECT first_name || ' ' || last_name AS name, email::text AS email "
            "FROM contacts WHERE id = $1 AND client_id = $2",
            contact_id,
            client_id,
        )
    if row is None:
        raise NotFound("Client", None)
    return Writer(client_id, contact_id, row["name"], row["email"])


async def _add_message(
    conn: asyncpg.Connection,
    ticket_id: int,
    *,
    author: str,
    body: str,
    staff_id: int | None,
    unverified_sender: bool = False,
) -> None:
    await conn.execute(
        """INSERT INTO ticket_messages (ticket_id, staff_id, author, body, unverified_sender)
           VALUES ($1, $2, $3, $4, $5)""",
        ticket_id,
        staff_id,
        author,
        body,
        unverified_sender,
    )


async def open_ticket(
    conn: asyncpg.Connection,
    writer: Writer,
    subject: str | None,
    message: str | None,
    *,
    unverified_sender: bool = False,
) -> Ticket:
    """Open a ticket for the writer's client with its first message; status OPEN. An
    emailed one whose sender the relay did not authenticate has that message flagged."""
    check = InputCheck()
    subject = _check_subject(check, "subject", subject)
    message = _check_message(check, "message", message)
    check.raise_if_failed()
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO tickets AS t (client_id, opened_by, contact_id, opener, subject)
                VALUES ($1, $2, $3, $4, $5) RETURNING {TICKET_COLUMNS}""",
            writer.client_id,
            Opener.CLIENT if writer.contact_id is None else Opener.CONTACT,
            writer.contact_id,
            writer.author,
            subject,
        )
        await _add_message(
            conn,
            row["id"],
            author=writer.author,
            body=message,
            staff_id=None,
            unverified_sender=unverified_sender,
        )
    return ticket_from_row(row)


async def sender_of(conn: asyncpg.Connection, address: str) -> Writer:
    """Who wrote from `address` (one address, as `inbound.sender_address` reads a From): the
    client with that address, else the one contact with it.

    An address no client or contact has is refused (NOT_FOUND), and so is one that contacts
    of several clients share (CONFLICT): an email never makes a client, nor guesses one."""
    email = normalize_email(address)
    client = await conn.fetchrow(
        "SELECT id, first_name || ' ' || last_name AS name, email::text AS email "
        "FROM clients WHERE email = $1",
        email,
    )
    if client is not None:
        return Writer(client["id"], None, client["name"], client["email"])
    contacts = await conn.fetch(
        """SELECT DISTINCT ON (client_id) id, client_id, first_name || ' ' || last_name AS name,
                  email::text AS email
             FROM contacts WHERE email = $1 ORDER BY client_id, id""",
        email,
    )
    if not contacts:
        raise DomainError.single(
            ErrorCode.NOT_FOUND, "No client or contact has the sender's address.", "from"
        )
    if len(contacts) > 1:
        raise DomainError.single(
            ErrorCode.CONFLICT, "Contacts of several clients have the sender's address.", "from"
        )
    [contact] = contacts
    return Writer(contact["client_id"], contact["id"], contact["name"], contact["email"])


async def _ticket_answered(conn: asyncpg.Connection, writer: Writer, subject: str) -> int | None:
    """The ticket an emailed answer joins, locked: the one whose reference the subject
    carries, number and reply token alike, provided the writer may write in it (the account
    holder in any of its client's tickets, a contact in those it opened)."""
    reference = inbound.reference_in(subject)
    if reference is None:
        return None
    ticket_id, token = reference
    row = await conn.fetchrow(
        """SELECT reply_token FROM tickets
            WHERE id = $1 AND client_id = $2 AND ($3::bigint IS NULL OR contact_id = $3)
              FOR UPDATE""",
        ticket_id,
        writer.client_id,
        writer.contact_id,
    )
    if row is None or not hmac.compare_digest(row["reply_token"], token):
        return None
    return ticket_id


async def receive_email(
    conn: asyncpg.Connection,
    sender: str | None,
    subject: str | None,
    text: str | None,
    *,
    authentication: Mapping[str, str] | None,
    require_authentication: bool,
) -> Received:
    """An inbound email: added to the ticket its subject refers to (`_ticket_answered`),
    else a new ticket. `authentication` is the mail relay's verdicts by method ("spf",
    "dkim", "dmarc"), None when it sent none: a forged sender is refused, an unverified one
    flagged, or refused too with `require_authentication` (`inbound.unverified_sender`).
    A reference without the right token, or to a ticket the sender may not write in, is
    ignored (a new ticket is opened)."""
    check = InputCheck()
    subject = _check_subject(check, "subject", subject)
    text = _check_message(check, "text", text)
    address = inbound.sender_address(check, sender)
    unverified = inbound.unverified_sender(check, authentication, required=require_authentication)
    check.raise_if_failed()
    writer = await sender_of(conn, address)
    async with conn.transaction():
        ticket_id = await _ticket_answered(conn, writer, subject)
        if ticket_id is not None:
            row = await conn.fetchrow(
                f"""UPDATE tickets AS t
                       SET status = CASE WHEN status = 'ANSWERED' THEN 'CUSTOMER_REPLY'
                                         ELSE status END,
                           updated_at = now()
                     WHERE id = $1
                 RETURNING {TICKET_COLUMNS}""",
                ticket_id,
            )
            await _add_message(
                conn,
                ticket_id,
                author=writer.author,
                body=text,
                staff_id=None,
                unverified_sender=unverified,
            )
            return Received(ticket_from_row(row), opened=False)
        ticket = await open_ticket(conn, writer, subject, text, unverified_sender=unverified)
        return Received(ticket, opened=True)


async def reply_to_ticket(
    conn: asyncpg.Connection,
    ticket_id: int,
    message: str | None,
    *,
    staff_id: int,
    client_area_url: str,
    page_id: str,
) -> Ticket:
    """Staff answer a ticket: the reply is added, the ticket is ANSWERED, and the opener
    (only) is sent "Support Ticket Reply" through the outbox. When the opening contact has
    been deleted since, the account holder, whose ticket it is, receives it. `page_id` is
    the ticket's id as the client area's ticket page takes it (the API's id)."""
    check = InputCheck()
    message = _check_message(check, "message", message)
    check.raise_if_failed()
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""UPDATE tickets AS t SET status = 'ANSWERED', updated_at = now()
                 WHERE id = $1 RETURNING {TICKET_COLUMNS}""",
            ticket_id,
        )
        if row is None:
            raise NotFound("Ticket", "ticket_id")
        ticket = ticket_from_row(row)
        staff_name = await conn.fetchval(
            "SELECT first_name || ' ' || last_name FROM staff WHERE id = $1", staff_id
        )
        await _add_message(conn, ticket.id, author=staff_name, body=message, staff_id=staff_id)
        recipient = await conn.fetchrow(
            """SELECT coalesce(ct.email, c.email)::text AS email,
                      coalesce(ct.first_name, c.first_name) AS first_name,
                      coalesce(ct.first_name || ' ' || ct.last_name,
                               c.first_name || ' ' || c.last_name) AS name
                 FROM clients c LEFT JOIN contacts ct ON ct.id = $2
                WHERE c.id = $1""",
            ticket.client_id,
            ticket.contact_id,
        )
        await queue_email(
            conn,
            template="support_ticket_reply",
            to_address=recipient["email"],
            to_name=recipient["name"],
            client_id=ticket.client_id,
            contact_id=ticket.contact_id,
            context={
                "recipient": {"first_name": recipient["first_name"]},
                "ticket": {
                    "id": page_id,
                    "number": ticket.id,
                    "reference": ticket.reference,
                    "subject": ticket.subject,
                },
                "message": message,
                "staff_name": staff_name,
                "client_area_url": client_area_url,
            },
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="ticket.replied",
            client_id=ticket.client_id,
            changes={"ticket_id": ticket.id},
        )
    return ticket


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
