"""Events of subscriptions: a committed change, with the object as the viewer may read it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.events import store
from schema.automation import AutomationRun
from schema.billing import Invoice
from schema.clients import Client
from schema.emails import Email
from schema.ids import global_id
from schema.tickets import Ticket

EventKind = strawberry.enum(
    store.EventKind,
    description="CREATED, UPDATED or DELETED: what the committed change did to the object.",
)


@strawberry.interface(
    description="A committed change, delivered in commit order per object. Its `id` is what "
    "to give as `after` when subscribing again, to receive what was missed meanwhile."
)
class Event:
    id: strawberry.ID = strawberry.field(
        description="The event's id; later events of an object have larger ids."
    )
    kind: store.EventKind = strawberry.field(description="What the change did.")
    at: datetime = strawberry.field(description="When the change was made.")
    client_id: strawberry.ID | None = strawberry.field(
        description="The id of the client concerned (null: none, e.g. an automation run)."
    )

    @staticmethod
    def client_gid(event: store.Event) -> strawberry.ID | None:
        return None if event.client_id is None else global_id("Client", event.client_id)


@strawberry.type(description="A client was added, changed or deleted.")
class ClientEvent(Event):
    client: Client | None = strawberry.field(
        description="The client as it is now (null once deleted)."
    )


@strawberry.type(description="An invoice was created or changed (paid, cancelled, …).")
class InvoiceEvent(Event):
    invoice: Invoice | None = strawberry.field(
        description="The invoice as it is now (null once deleted)."
    )


@strawberry.type(description="A ticket was opened, replied to or changed.")
class TicketEvent(Event):
    ticket: Ticket | None = strawberry.field(
        description="The ticket as it is now (null once deleted)."
    )


@strawberry.type(
    description="An email was queued, sent or failed. `email` is shown once it is sent, as in "
    "the client's email log."
)
class EmailEvent(Event):
    email: Email | None = strawberry.field(
        description="The email as the email log shows it (null until it is sent)."
    )


@strawberry.type(description="An automation run started, made progress or finished (staff).")
class AutomationRunEvent(Event):
    run: AutomationRun | None = strawberry.field(description="The run as it is now.")
