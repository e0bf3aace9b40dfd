"""Catalogue rows: product groups, products with their prices, cancellation requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from domain.billing.models import BillingCycle, ItemKind


@dataclass(frozen=True)
class ProductGroup:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ProductPrice:
    """A product's price for one billing cycle in one currency. A DOMAIN's `amount` is its
    registration price; it has transfer and renewal prices too (None for other kinds)."""

    currency: str
    cycle: BillingCycle
    amount: Decimal
    setup_fee: Decimal
    transfer_amount: Decimal | None
    renew_amount: Decimal | None


@dataclass(frozen=True)
class Product:
    id: int
    group_id: int | None
    kind: ItemKind
    name: str
    description: str
    hidden: bool
    # Of an ADDON: the service product it is an addon of.
    addon_of: int | None
    created_at: datetime
    pricing: tuple[ProductPrice, ...]

    def price(self, currency: str, cycle: BillingCycle) -> ProductPrice | None:
        return next((p for p in self.pricing if p.currency == currency and p.cycle == cycle), None)


class CancellationType(StrEnum):
    IMMEDIATE = "IMMEDIATE"
    END_OF_BILLING_PERIOD = "END_OF_BILLING_PERIOD"


class CancellationStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"


@dataclass(frozen=True)
class CancellationRequest:
    id: int
    service_id: int
    client_id: int
    service_name: str
    type: CancellationType
    reason: str
    status: CancellationStatus
    due_date: date
    created_at: datetime
    carried_out_at: datetime | None
