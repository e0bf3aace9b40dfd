"""Support tickets and their messages (SPEC 2.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MAX_SUBJECT = 255
# The longest message kept; longer ones are refused, never cut (the database checks it too).
MAX_MESSAGE = 20_000


class TicketStatus(StrEnum):
    """Whose turn it is (SPEC 15.1)."""

    OPEN = "OPEN"  # opened, no staff reply yet
    ANSWERED = "ANSWERED"  # staff replied last
    CUSTOMER_REPLY = "CUSTOMER_REPLY"  # the client wrote again after a staff reply
    ON_HOLD = "ON_HOLD"  # staff wait for something else
    CLOSED = "CLOSED"  # done, until the client writes again


class Opener(StrEnum):
    CLIENT = "CLIENT"  # the account holder
    CONTACT = "CONTACT"  # one of its contacts


@dataclass(frozen=True)
class Ticket:
    id: int
    client_id: int
    opened_by: Opener
    contact_id: int | None
    opener: str
    subject: str
    status: TicketStatus
    opened_at: datetime
    updated_at: datetime
    # Random, per ticket: an emailed answer joins the ticket only when its subject carries
    # it, so the sequential number alone lets nobody write into another's ticket.
    reply_token: str
    department_id: int | None

    @property
    def reference(self) -> str:
        """What a subject carries so that an emailed answer joins this ticket: the number
        people read, and the reply token."""
        return f"[Ticket #{self.id}-{self.reply_token}]"


@dataclass(frozen=True)
class TicketMessage:
    id: int
    ticket_id: int
    client_id: int
    staff_id: int | None
    author: str
    body: str
    created_at: datetime
    # Received by email without the relay's DMARC pass: its From may be forged.
    unverified_sender: bool
    # A staff note for staff: never shown to the client area, emailed or exported.
    internal: bool


TICKET_COLUMNS = """t.id, t.client_id, t.opened_by, t.contact_id, t.opener, t.subject, t.status,
    t.opened_at, t.updated_at, t.reply_token, t.department_id"""
MESSAGE_COLUMNS = """m.id, m.ticket_id, t.client_id, m.staff_id, m.author, m.body, m.created_at,
    m.unverified_sender, m.internal"""


@dataclass(frozen=True)
class Department:
    """Who answers a kind of ticket; emails about its tickets go from its address."""

    id: int
    name: str
    email: str


DEPARTMENT_COLUMNS = "d.id, d.name, d.email::text AS email"
