"""Support ticket use cases (SPEC 2.3, 8.1, 15.1): opening, replies from both sides,
internal notes, statuses.

A ticket is opened by the account holder or one of its contacts, in the client area or by
inbound email (domain/tickets/inbound.py). Emails about a ticket ("Support Ticket Opened",
"Support Ticket Reply") go to its opener only, from its department's address when it has
one: a SUPPORT contact is emailed about tickets it opened, never copied on every ticket, so
they bypass the category copies of `queue_client_email`. Internal notes are staff's own:
they change no status, are never emailed, and the client area never reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formataddr
from typing import Any

import asyncpg

from domain import audit
from domain.emails.links import api_id_sql
from domain.emails.outbox import queue_email
from domain.errors import ErrorCode, NotFound
from domain.files.storage import StoredUpload
from domain.tickets.attachments import add_attachments
from domain.tickets.departments import check_department
from domain.tickets.models import (
    MAX_MESSAGE,
    MAX_SUBJECT,
    TICKET_COLUMNS,
    Opener,
    Ticket,
    TicketStatus,
)
from domain.tickets.reading import ticket_from_row
from domain.validation import InputCheck

# The status a client's message leaves: a ticket not answered yet stays OPEN, any other
# (ANSWERED, ON_HOLD, CLOSED: a reply reopens it) waits for staff again.
CLIENT_WROTE = "CASE WHEN t.status = 'OPEN' THEN 'OPEN' ELSE 'CUSTOMER_REPLY' END"


@dataclass(frozen=True)
class Writer:
    """A client-side author: the account holder (contact_id None) or one of its contacts.
    `opens_by_email`: whether its emails may open tickets (SPEC 15.2: the holder, and
    contacts who tick SUPPORT)."""

    client_id: int
    contact_id: int | None
    name: str
    email: str
    opens_by_email: bool = True

    @property
    def author(self) -> str:
        return f"{self.name} <{self.email}>"


def check_message(check: InputCheck, field: str, value: str | None) -> str:
    message = (value or "").strip()
    if not message:
        check.fail(field, ErrorCode.REQUIRED, "The message is required.")
    else:
        check.optional_text(field, message, "The message", MAX_MESSAGE, multiline=True)
    return message


def check_subject(check: InputCheck, field: str, value: str | None) -> str:
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


async def add_message(
    conn: asyncpg.Connection,
    ticket_id: int,
    *,
    author: str,
    body: str,
    staff_id: int | None,
    unverified_sender: bool = False,
    internal: bool = False,
    attachments: Sequence[StoredUpload] = (),
) -> None:
    """Add a message, with the files it carries (already stored)."""
    message_id = await conn.fetchval(
        """INSERT INTO ticket_messages (ticket_id, staff_id, author, body, unverified_sender,
                                        internal)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        ticket_id,
        staff_id,
        author,
        body,
        unverified_sender,
        internal,
    )
    await add_attachments(conn, message_id, attachments)


async def _email_opener(
    conn: asyncpg.Connection,
    ticket: Ticket,
    template: str,
    context: dict[str, Any],
    client_area_url: str,
) -> None:
    """Queue `template` about `ticket` to its opener (the account holder once the opening
    contact is deleted), from the ticket's department's address when it has one."""
    row = await conn.fetchrow(
        f"""SELECT coalesce(ct.email, c.email)::text AS email,
                   coalesce(ct.first_name, c.first_name) AS first_name,
                   coalesce(ct.first_name || ' ' || ct.last_name,
                            c.first_name || ' ' || c.last_name) AS name,
                   ct.id AS contact_id, d.name AS department, d.email::text AS department_email,
                   {api_id_sql("Ticket", "t.id")} AS page_id
              FROM tickets t JOIN clients c ON c.id = t.client_id
              LEFT JOIN contacts ct ON ct.id = t.contact_id
              LEFT JOIN ticket_departments d ON d.id = t.department_id
             WHERE t.id = $1""",
        ticket.id,
    )
    department = row["department"]
    sender = None if department is None else formataddr((department, row["department_email"]))
    await queue_email(
        conn,
        template=template,
        to_address=row["email"],
        to_name=row["name"],
        client_id=ticket.client_id,
        contact_id=row["contact_id"],
        from_address=sender,
        context={
            "recipient": {"first_name": row["first_name"]},
            "ticket": {
                "id": row["page_id"],
                "number": ticket.id,
                "reference": ticket.reference,
                "subject": ticket.subject,
            },
            "client_area_url": client_area_url,
            **context,
        },
    )


async def open_ticket(
    conn: asyncpg.Connection,
    writer: Writer,
    subject: str | None,
    message: str | None,
    *,
    client_area_url: str,
    department_id: int | None = None,
    unverified_sender: bool = False,
    attachments: Sequence[StoredUpload] = (),
) -> Ticket:
    """Open a ticket for the writer's client with its first message, status OPEN, in a
    department if one is chosen; its opener is sent "Support Ticket Opened" with the
    reference. An emailed one whose sender the relay did not authenticate has that message
    flagged."""
    check = InputCheck()
    subject = check_subject(check, "subject", subject)
    message = check_message(check, "message", message)
    check.raise_if_failed()
    async with conn.transaction():
        department_id = await check_department(conn, department_id)
        row = await conn.fetchrow(
            f"""INSERT INTO tickets AS t (client_id, opened_by, contact_id, opener, subject,
                                          department_id)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TICKET_COLUMNS}""",
            writer.client_id,
            Opener.CLIENT if writer.contact_id is None else Opener.CONTACT,
            writer.contact_id,
            writer.author,
            subject,
            department_id,
        )
        ticket = ticket_from_row(row)
        await add_message(
            conn,
            ticket.id,
            author=writer.author,
            body=message,
            staff_id=None,
            unverified_sender=unverified_sender,
            attachments=attachments,
        )
        await _email_opener(conn, ticket, "support_ticket_opened", {}, client_area_url)
    return ticket


async def client_wrote(
    conn: asyncpg.Connection,
    ticket_id: int,
    writer: Writer,
    message: str,
    *,
    unverified_sender: bool = False,
    attachments: Sequence[StoredUpload] = (),
) -> Ticket:
    """A client-side message added to a ticket the caller checked the writer may write in;
    its status per CLIENT_WROTE."""
    row = await conn.fetchrow(
        f"""UPDATE tickets AS t SET status = {CLIENT_WROTE}, updated_at = now()
             WHERE id = $1 RETURNING {TICKET_COLUMNS}""",
        ticket_id,
    )
    await add_message(
        conn,
        ticket_id,
        author=writer.author,
        body=message,
        staff_id=None,
        unverified_sender=unverified_sender,
        attachments=attachments,
    )
    return ticket_from_row(row)


async def reply_to_my_ticket(
    conn: asyncpg.Connection,
    writer: Writer,
    ticket_id: int,
    message: str | None,
    *,
    attachments: Sequence[StoredUpload] = (),
) -> Ticket:
    """The client area answers one of its client's tickets (a CLOSED one reopens); another
    client's ticket is NOT_FOUND."""
    check = InputCheck()
    message = check_message(check, "message", message)
    check.raise_if_failed()
    async with conn.transaction():
        found = await conn.fetchval(
            "SELECT id FROM tickets WHERE id = $1 AND client_id = $2 FOR UPDATE",
            ticket_id,
            writer.client_id,
        )
        if found is None:
            raise NotFound("Ticket", "ticket_id")
        return await client_wrote(conn, ticket_id, writer, message, attachments=attachments)


async def close_my_ticket(conn: asyncpg.Connection, client_id: int, ticket_id: int) -> Ticket:
    """The client area closes one of its client's tickets; another client's is NOT_FOUND."""
    row = await conn.fetchrow(
        f"""UPDATE tickets AS t SET status = 'CLOSED', updated_at = now()
             WHERE id = $1 AND client_id = $2 RETURNING {TICKET_COLUMNS}""",
        ticket_id,
        client_id,
    )
    if row is None:
        raise NotFound("Ticket")
    return ticket_from_row(row)


async def set_ticket_status(
    conn: asyncpg.Connection, ticket_id: int, status: TicketStatus, *, staff_id: int
) -> Ticket:
    """Staff set a ticket's status, audited with the one it had."""
    async with conn.transaction():
        was = await conn.fetchval("SELECT status FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
        if was is None:
            raise NotFound("Ticket")
        row = await conn.fetchrow(
            f"""UPDATE tickets AS t SET status = $2, updated_at = now()
                 WHERE id = $1 RETURNING {TICKET_COLUMNS}""",
            ticket_id,
            status.value,
        )
        ticket = ticket_from_row(row)
        await audit.record(
            conn,
            staff_id=staff_id,
            action="ticket.status_changed",
            client_id=ticket.client_id,
            changes={"ticket_id": ticket.id, "status": status.value, "was": was},
        )
    return ticket


async def reply_to_ticket(
    conn: asyncpg.Connection,
    ticket_id: int,
    message: str | None,
    *,
    staff_id: int,
    client_area_url: str,
    internal: bool = False,
    attachments: Sequence[StoredUpload] = (),
) -> Ticket:
    """Staff answer a ticket: the reply is added, the ticket is ANSWERED, and the opener
    (only) is sent "Support Ticket Reply" through the outbox. An internal note is only
    added: the ticket, its status and its opener's mailbox stay as they were. Files the
    message carries are kept with it, not attached to the email."""
    check = InputCheck()
    message = check_message(check, "message", message)
    check.raise_if_failed()
    async with conn.transaction():
        if internal:
            row = await conn.fetchrow(
                f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE id = $1 FOR UPDATE", ticket_id
            )
        else:
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
        await add_message(
            conn,
            ticket.id,
            author=staff_name,
            body=message,
            staff_id=staff_id,
            internal=internal,
            attachments=attachments,
        )
        if not internal:
            await _email_opener(
                conn,
                ticket,
                "support_ticket_reply",
                {"message": message, "staff_name": staff_name},
                client_area_url,
            )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="ticket.noted" if internal else "ticket.replied",
            client_id=ticket.client_id,
            changes={"ticket_id": ticket.id},
        )
    return ticket
