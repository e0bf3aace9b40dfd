"""The staff list of all clients' tickets (the support queue), filtered and paged
(`domain.listing`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.listing import Conditions, Listing
from domain.tickets.models import TICKET_COLUMNS, Ticket, TicketStatus
from domain.tickets.reading import ticket_from_row


class TicketOrderField(StrEnum):
    ID = "ID"
    # The last message or status change: the queue's "oldest waiting first".
    UPDATED_AT = "UPDATED_AT"


TICKETS: Listing[Ticket] = Listing(
    TICKET_COLUMNS,
    "FROM tickets t",
    {
        TicketOrderField.ID: ("t.id", "bigint"),
        TicketOrderField.UPDATED_AT: ("t.updated_at", "timestamptz"),
    },
    ticket_from_row,
    id_column="t.id",
)


@dataclass(frozen=True)
class TicketFilter:
    """Which tickets: any of `statuses` (none: all), of one client, of one department."""

    statuses: tuple[TicketStatus, ...] = ()
    client_id: int | None = None
    department_id: int | None = None

    def conditions(self) -> Conditions:
        found = Conditions()
        if self.statuses:
            found.add("t.status = ANY({}::text[])", [s.value for s in self.statuses])
        if self.client_id is not None:
            found.add("t.client_id = {}", self.client_id)
        if self.department_id is not None:
            found.add("t.department_id = {}", self.department_id)
        return found
