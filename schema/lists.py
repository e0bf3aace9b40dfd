"""The staff lists of all clients' invoices, tickets and services: their connections (with
totals) and sort orders."""

from __future__ import annotations

import strawberry

from domain.billing import lists as billing_lists
from domain.tickets import lists as ticket_lists
from schema.billing import Invoice, Service
from schema.clients import OrderDirection
from schema.connections import Connection, total_count_field, total_count_is_estimate_field
from schema.tickets import Ticket

InvoiceOrderField = strawberry.enum(
    billing_lists.InvoiceOrderField,
    description="What the invoice list is sorted by: ID (the order they were made in) or "
    "DUE_DATE; ties by id.",
)
ServiceOrderField = strawberry.enum(
    billing_lists.ServiceOrderField,
    description="What the service list is sorted by: ID (the order they were made in) or "
    "NEXT_DUE_DATE (services without one last); ties by id.",
)
TicketOrderField = strawberry.enum(
    ticket_lists.TicketOrderField,
    description="What the ticket list is sorted by: ID (the order they were opened in) or "
    "UPDATED_AT (the last message); ties by id.",
)


@strawberry.input(description="How to sort the invoice list; newest first by default.")
class InvoiceOrder:
    field: billing_lists.InvoiceOrderField = strawberry.field(
        default=billing_lists.InvoiceOrderField.ID, description="The sort key."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC, description="Ascending or descending."
    )


@strawberry.input(description="How to sort the service list; oldest first by default.")
class ServiceOrder:
    field: billing_lists.ServiceOrderField = strawberry.field(
        default=billing_lists.ServiceOrderField.ID, description="The sort key."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="Ascending or descending."
    )


@strawberry.input(description="How to sort the ticket list; newest first by default.")
class TicketOrder:
    field: ticket_lists.TicketOrderField = strawberry.field(
        default=ticket_lists.TicketOrderField.ID, description="The sort key."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC, description="Ascending or descending."
    )


@strawberry.type(description="A page of invoices of every client.")
class InvoiceConnection(Connection[Invoice]):
    total_count: int = total_count_field("How many invoices match the filter")
    total_count_is_estimate: bool = total_count_is_estimate_field("invoices")


@strawberry.type(description="A page of services of every client.")
class ServiceConnection(Connection[Service]):
    total_count: int = total_count_field("How many services match the filter")
    total_count_is_estimate: bool = total_count_is_estimate_field("services")


@strawberry.type(description="A page of tickets of every client.")
class TicketConnection(Connection[Ticket]):
    total_count: int = total_count_field("How many tickets match the filter")
    total_count_is_estimate: bool = total_count_is_estimate_field("tickets")
