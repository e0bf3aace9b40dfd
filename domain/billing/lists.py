"""The staff lists of all clients' invoices and services (the "overdue invoices" page, the
services due for renewal), filtered and paged (`domain.listing`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import partial

from domain.billing.invoices import INVOICE_COLUMNS, invoice_from_row
from domain.billing.items import ITEM_COLUMNS, item_from_row
from domain.billing.models import BillableItem, Invoice, InvoiceStatus, ItemKind, ServiceStatus
from domain.listing import Conditions, Listing, check_range


class InvoiceOrderField(StrEnum):
    ID = "ID"
    DUE_DATE = "DUE_DATE"


class ServiceOrderField(StrEnum):
    ID = "ID"
    NEXT_DUE_DATE = "NEXT_DUE_DATE"


# An invoice is overdue while it is unpaid after its due date (the day the first overdue
# notice counts from, SPEC 9.4).
OVERDUE = "status = 'UNPAID' AND due_date < CURRENT_DATE"
# A service without a next due date (a one-time one) sorts after every dated one; as a
# keyset's expression it must never be NULL (a NULL position compares as nothing).
SERVICE_DUE = "coalesce(next_due_date, 'infinity'::date)"

INVOICES: Listing[Invoice] = Listing(
    INVOICE_COLUMNS,
    "FROM invoices",
    {InvoiceOrderField.ID: ("id", "bigint"), InvoiceOrderField.DUE_DATE: ("due_date", "date")},
    invoice_from_row,
)
SERVICES: Listing[BillableItem] = Listing(
    ITEM_COLUMNS,
    "FROM services",
    {
        ServiceOrderField.ID: ("id", "bigint"),
        ServiceOrderField.NEXT_DUE_DATE: (SERVICE_DUE, "date"),
    },
    partial(item_from_row, ItemKind.SERVICE),
)


@dataclass(frozen=True)
class InvoiceFilter:
    """Which invoices: any of `statuses` (none: all), overdue or not, due strictly before
    and after dates, of one client."""

    statuses: tuple[InvoiceStatus, ...] = ()
    overdue: bool | None = None
    due_before: date | None = None
    due_after: date | None = None
    client_id: int | None = None

    def conditions(self) -> Conditions:
        """The filter as SQL; INVALID for `due_before` when no day lies in the range."""
        check_range(self.due_after, self.due_before, before_field="due_before")
        found = Conditions()
        if self.statuses:
            found.add("status = ANY({}::text[])", [s.value for s in self.statuses])
        if self.overdue is not None:
            found.sql.append(OVERDUE if self.overdue else f"NOT ({OVERDUE})")
        if self.due_before is not None:
            found.add("due_date < {}", self.due_before)
        if self.due_after is not None:
            found.add("due_date > {}", self.due_after)
        if self.client_id is not None:
            found.add("client_id = {}", self.client_id)
        return found


@dataclass(frozen=True)
class ServiceFilter:
    """Which services: any of `statuses` (none: all), next due strictly before a date, of
    one client."""

    statuses: tuple[ServiceStatus, ...] = ()
    due_before: date | None = None
    client_id: int | None = None

    def conditions(self) -> Conditions:
        found = Conditions()
        if self.statuses:
            found.add("status = ANY({}::text[])", [s.value for s in self.statuses])
        if self.due_before is not None:
            found.add(f"{SERVICE_DUE} < {{}}", self.due_before)
        if self.client_id is not None:
            found.add("client_id = {}", self.client_id)
        return found
