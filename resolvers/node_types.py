"""What `node`/`nodes` reach: for every type implementing `Node`, the permission reading it
takes and the function fetching a batch of them by row id (resolvers/node.py uses them).

Each entry gives the same permissions as the type's own root field or `Client` field:
`client`/`me`, `contact`/`Client.contacts`, `Client.emails`, `Client.tickets`, `Client.quotes`,
`Client.services`/`addons`/`domains`, `invoice`/`Client.invoices`, `Client.transactions`,
`Client.creditLog`, `Client.files`, `products`/`productGroups`, `ticketDepartments`,
`cancellationRequests`, and the staff-only `taxRules`, `auditLog`, `apiKeys`,
`staffMember` and `staffRoles`. Orders are read only by the staff who place and accept them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from graphql import GraphQLError

from domain import audit
from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.billing import invoices, items, orders, payments, tax
from domain.billing.models import BillableItem, ItemKind
from domain.credit import ledger
from domain.files import services as file_services
from domain.staff import api_keys, members, roles
from resolvers.catalogue import groups_by_pks, products_by_pks, requests_by_pks
from resolvers.clients import clients_by_pks
from resolvers.contacts import contacts_by_pks
from resolvers.context import Context
from resolvers.emails import emails_by_pks
from resolvers.quotes import quotes_by_pks
from resolvers.tickets import (
    attachments_by_pks,
    departments_by_pks,
    messages_by_pks,
    tickets_by_pks,
)
from schema.api_keys import ApiKey
from schema.audit import AuditEntry
from schema.billing import Domain, Invoice, Order, Service, TaxRule, Transaction
from schema.common import Forbidden
from schema.credit import CreditEntry
from schema.files import ClientFile
from schema.node import Owned
from schema.staff import Staff, StaffRoleType

Row = TypeVar("Row")
Fetch = Callable[[Context, Sequence[int]], Awaitable[Sequence[Owned | None]]]


@dataclass(frozen=True)
class NodeType:
    """How `node` reaches the objects of one type."""

    # What staff need to read it.
    staff: StaffPermission
    # What a client-area login needs to read its own client's ones (None: nothing more).
    client_area: ContactPermission | None
    # The objects of these row ids, in their order (None: no such object), in a few
    # statements however many they are.
    fetch: Fetch
    # Whether the client area reads them at all (their root fields are staff's alone).
    staff_only: bool = False
    # Its objects are of no client (the catalogue's): every client-area login reads them.
    shared: bool = False

    def refusal(self, viewer: Viewer) -> GraphQLError | None:
        """Why the viewer may not read objects of this type at all, if it may not."""
        if viewer.is_staff or self.staff_only:
            if viewer.has_staff_permission(self.staff):
                return None
            return Forbidden(f"This needs the staff permission {self.staff.value}.")
        if self.client_area is None or viewer.has_client_permission(self.client_area):
            return None
        return Forbidden(f"This needs the client-area permission {self.client_area.value}.")


def fetched(
    by_ids: Callable[[asyncpg.Connection, Sequence[int]], Awaitable[Mapping[int, Row]]],
    present: Callable[[Row], Owned],
) -> Fetch:
    """A `fetch` of rows read by `by_ids` in one statement, each presented with its owner."""

    async def fetch(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
        async with ctx.connection() as conn:
            found = await by_ids(conn, pks)
        return [present(found[pk]) if pk in found else None for pk in pks]

    return fetch


async def _orders(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """Orders with the invoice of their first period, as placeOrder returns them."""
    async with ctx.connection() as conn:
        found = await orders.orders_by_ids(conn, pks)
        wanted = [order.invoice_id for order in found.values() if order.invoice_id is not None]
        invoiced = await invoices.invoices_by_ids(conn, wanted)
    return [
        (order.client_id, Order.build(order, invoiced.get(order.invoice_id or 0)))
        if (order := found.get(pk))
        else None
        for pk in pks
    ]


async def _files(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """Files as `Client.files` shows them: the admin-only ones to staff alone."""
    viewer = await ctx.get_viewer()
    async with ctx.connection() as conn:
        found = await file_services.files_by_ids(conn, pks)
    return [
        (row.client_id, ClientFile.build(row))
        if (row := found.get(pk)) and file_services.may_see(viewer, row)
        else None
        for pk in pks
    ]


async def _services(conn: asyncpg.Connection, pks: Sequence[int]) -> Mapping[int, BillableItem]:
    return await items.items_by_ids(conn, (ItemKind.SERVICE, ItemKind.ADDON), pks)


async def _domains(conn: asyncpg.Connection, pks: Sequence[int]) -> Mapping[int, BillableItem]:
    return await items.items_by_ids(conn, (ItemKind.DOMAIN,), pks)


# Most types are read by staff who may view clients.
VIEW = StaffPermission.VIEW_CLIENTS
NODE_TYPES: dict[str, NodeType] = {
    "Client": NodeType(VIEW, None, clients_by_pks),
    "Contact": NodeType(VIEW, ContactPermission.CONTACTS, contacts_by_pks),
    "Email": NodeType(StaffPermission.VIEW_EMAILS, ContactPermission.EMAILS, emails_by_pks),
    "Ticket": NodeType(VIEW, ContactPermission.TICKETS, tickets_by_pks),
    "TicketMessage": NodeType(VIEW, ContactPermission.TICKETS, messages_by_pks),
    "TicketAttachment": NodeType(VIEW, ContactPermission.TICKETS, attachments_by_pks),
    "Quote": NodeType(VIEW, ContactPermission.QUOTES, quotes_by_pks),
    "Service": NodeType(
        VIEW,
        ContactPermission.PRODUCTS,
        fetched(_services, lambda row: (row.client_id, Service.build(row))),
    ),
    "Domain": NodeType(
        VIEW,
        ContactPermission.DOMAINS,
        fetched(_domains, lambda row: (row.client_id, Domain.build(row))),
    ),
    "Invoice": NodeType(
        VIEW,
        ContactPermission.INVOICES,
        fetched(invoices.invoices_by_ids, lambda row: (row.client_id, Invoice.build(row))),
    ),
    "Transaction": NodeType(
        VIEW,
        ContactPermission.INVOICES,
        fetched(payments.transactions_by_ids, lambda row: (row.client_id, Transaction.build(row))),
    ),
    "CreditEntry": NodeType(
        VIEW,
        ContactPermission.INVOICES,
        fetched(ledger.entries_by_ids, lambda row: (row.client_id, CreditEntry.build(row))),
    ),
    "ClientFile": NodeType(
        file_services.STAFF_PERMISSION, file_services.CLIENT_AREA_PERMISSION, _files
    ),
    # The catalogue is every client-area login's to read (`products`, `productGroups`).
    "Product": NodeType(VIEW, None, products_by_pks, shared=True),
    "ProductGroup": NodeType(VIEW, None, groups_by_pks, shared=True),
    # So are the ticket departments (`ticketDepartments`), to choose one when opening a ticket.
    "TicketDepartment": NodeType(VIEW, None, departments_by_pks, shared=True),
    "CancellationRequest": NodeType(VIEW, ContactPermission.PRODUCTS, requests_by_pks),
    "Order": NodeType(VIEW, None, _orders, staff_only=True),
    "TaxRule": NodeType(
        VIEW,
        None,
        fetched(tax.tax_rules_by_ids, lambda row: (None, TaxRule.build(row))),
        staff_only=True,
    ),
    "AuditEntry": NodeType(
        StaffPermission.VIEW_AUDIT_LOG,
        None,
        fetched(audit.audit_entries_by_ids, lambda row: (row.client_id, AuditEntry.build(row))),
        staff_only=True,
    ),
    "ApiKey": NodeType(
        StaffPermission.MANAGE_STAFF,
        None,
        fetched(api_keys.api_keys_by_ids, lambda key: (None, ApiKey.build(key))),
        staff_only=True,
    ),
    "Staff": NodeType(
        StaffPermission.MANAGE_STAFF,
        None,
        fetched(members.staff_members_by_ids, lambda member: (None, Staff.build(member))),
        staff_only=True,
    ),
    "StaffRole": NodeType(
        StaffPermission.MANAGE_STAFF,
        None,
        fetched(roles.roles_by_ids, lambda role: (None, StaffRoleType.build(role))),
        staff_only=True,
    ),
}
