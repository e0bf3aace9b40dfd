"""The staff lists of every client's invoices, tickets and services (issue 20): filtered,
sorted, paged by keyset, with their totals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

import asyncpg
import strawberry
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from domain.auth.permissions import StaffPermission
from domain.billing import lists as billing_lists
from domain.billing.models import InvoiceStatus, ServiceStatus
from domain.errors import DomainError
from domain.listing import Conditions, Listing
from domain.paging import Page, PageRequest
from domain.tickets import lists as ticket_lists
from domain.tickets.models import TicketStatus
from domain.totals import Total
from resolvers.context import Context
from resolvers.inputs import parse_id
from resolvers.pagination import (
    After,
    Before,
    ClientFilter,
    First,
    Last,
    bad_input,
    page_request,
    paged_list,
)
from resolvers.permissions import staff
from schema.billing import Invoice, Service
from schema.clients import OrderDirection
from schema.common import PageInfo
from schema.lists import (
    InvoiceConnection,
    InvoiceOrder,
    ServiceConnection,
    ServiceOrder,
    TicketConnection,
    TicketOrder,
)
from schema.tickets import Ticket

Row = TypeVar("Row")
AConnection = TypeVar("AConnection", InvoiceConnection, ServiceConnection, TicketConnection)
# An id argument (`clientId`) naming no row of its type: it matches nothing, and no
# statement is run for it.
NOTHING = object()


def _row_id(given: str | None, type_name: str) -> int | object | None:
    """The row id an id argument names, None when not given, NOTHING for an id of anything
    but a `type_name` (which matches nothing)."""
    if given is None:
        return None
    found = parse_id(given, type_name)
    return NOTHING if found is None else found


async def _listed(
    info: Info[Context, None],
    kind: type[AConnection],
    name: str,
    listing: Listing[Row],
    conditions: Callable[[], Conditions] | None,
    order: Any,
    node: Callable[[Row], Any],
    paging: tuple[int | None, str | None, int | None, str | None],
) -> AConnection:
    """A page of `listing` in `order` (an input with `field` and `direction`) as a connection
    of `kind`; its conditions made by `conditions` (None: the filter matches nothing)."""
    # Cursors name the order they were made in: a position means nothing in another order.
    list_key = f"{name}/{order.field.value}"
    if conditions is None:
        page_request(list_key, *paging)  # the paging arguments are checked all the same
        return kind(
            edges=[], page_info=PageInfo.empty(), total_count=0, total_count_is_estimate=False
        )
    try:
        made = conditions()
    except DomainError as error:
        [field_error] = error.errors
        argument = to_camel_case(field_error.field or "")
        raise bad_input(f"`{argument}`: {field_error.message}", argument) from None

    async def read(
        conn: asyncpg.Connection, request: PageRequest, look_behind: bool
    ) -> tuple[Page[Row], Total]:
        return await listing.page(
            conn,
            made,
            request,
            order=order.field,
            descending=order.direction is OrderDirection.DESC,
            look_behind=look_behind,
        )

    return await paged_list(info, kind, list_key, read, node, *paging)


async def invoices(
    info: Info[Context, None],
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
    status: Annotated[
        list[InvoiceStatus] | None, strawberry.argument(description="Only these statuses.")
    ] = None,
    overdue: Annotated[
        bool | None,
        strawberry.argument(
            description="True: only UNPAID invoices due before today; false: all others."
        ),
    ] = None,
    due_before: Annotated[
        date | None, strawberry.argument(description="Only those due before this day.")
    ] = None,
    due_after: Annotated[
        date | None,
        strawberry.argument(
            description="Only those due after this day; a day must lie between it and `dueBefore`."
        ),
    ] = None,
    client_id: ClientFilter = None,
    order_by: Annotated[
        InvoiceOrder | None, strawberry.argument(description="Sort order; newest first.")
    ] = None,
) -> InvoiceConnection:
    client = _row_id(client_id, "Client")
    found = billing_lists.InvoiceFilter(
        statuses=tuple(status or ()),
        overdue=overdue,
        due_before=due_before,
        due_after=due_after,
        client_id=client if isinstance(client, int) else None,
    )
    return await _listed(
        info,
        InvoiceConnection,
        "invoices",
        billing_lists.INVOICES,
        None if client is NOTHING else found.conditions,
        order_by or InvoiceOrder(),
        Invoice.build,
        (first, after, last, before),
    )


async def services(
    info: Info[Context, None],
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
    status: Annotated[
        list[ServiceStatus] | None, strawberry.argument(description="Only these statuses.")
    ] = None,
    client_id: ClientFilter = None,
    due_before: Annotated[
        date | None,
        strawberry.argument(description="Only those whose next due date is before this day."),
    ] = None,
    order_by: Annotated[
        ServiceOrder | None, strawberry.argument(description="Sort order; oldest first.")
    ] = None,
) -> ServiceConnection:
    client = _row_id(client_id, "Client")
    found = billing_lists.ServiceFilter(
        statuses=tuple(status or ()),
        due_before=due_before,
        client_id=client if isinstance(client, int) else None,
    )
    return await _listed(
        info,
        ServiceConnection,
        "services",
        billing_lists.SERVICES,
        None if client is NOTHING else found.conditions,
        order_by or ServiceOrder(),
        Service.build,
        (first, after, last, before),
    )


async def tickets(
    info: Info[Context, None],
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
    status: Annotated[
        list[TicketStatus] | None, strawberry.argument(description="Only these statuses.")
    ] = None,
    client_id: ClientFilter = None,
    department_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this department's.")
    ] = None,
    order_by: Annotated[
        TicketOrder | None, strawberry.argument(description="Sort order; newest first.")
    ] = None,
) -> TicketConnection:
    client = _row_id(client_id, "Client")
    department = _row_id(department_id, "TicketDepartment")
    found = ticket_lists.TicketFilter(
        statuses=tuple(status or ()),
        client_id=client if isinstance(client, int) else None,
        department_id=department if isinstance(department, int) else None,
    )
    return await _listed(
        info,
        TicketConnection,
        "tickets",
        ticket_lists.TICKETS,
        None if NOTHING in (client, department) else found.conditions,
        order_by or TicketOrder(),
        Ticket.build,
        (first, after, last, before),
    )


@strawberry.type(description="Root fields of the staff lists: what can be read.")
class Queries:
    invoices: InvoiceConnection = strawberry.field(
        resolver=invoices,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="Invoices of every client (or one), filtered, sorted and paged (staff).",
    )
    services: ServiceConnection = strawberry.field(
        resolver=services,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="Services of every client (or one), filtered, sorted and paged (staff).",
    )
    tickets: TicketConnection = strawberry.field(
        resolver=tickets,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="Support tickets of every client (or one), filtered, sorted and paged (staff).",
    )
