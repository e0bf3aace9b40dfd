"""Billing rows: orders, services, addons and domains, invoices, transactions, tax rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class ItemKind(StrEnum):
    SERVICE = "SERVICE"
    ADDON = "ADDON"
    DOMAIN = "DOMAIN"

    @property
    def table(self) -> str:
        return {"SERVICE": "services", "ADDON": "addons", "DOMAIN": "domains"}[self.value]


class BillingCycle(StrEnum):
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    SEMI_ANNUALLY = "SEMI_ANNUALLY"
    ANNUALLY = "ANNUALLY"
    BIENNIALLY = "BIENNIALLY"
    TRIENNIALLY = "TRIENNIALLY"
    ONE_TIME = "ONE_TIME"


class ServiceStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    CANCELLED = "CANCELLED"
    FRAUD = "FRAUD"
    COMPLETED = "COMPLETED"


class DomainStatus(StrEnum):
    PENDING = "PENDING"
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    PENDING_TRANSFER = "PENDING_TRANSFER"
    ACTIVE = "ACTIVE"
    GRACE = "GRACE"
    REDEMPTION = "REDEMPTION"
    EXPIRED = "EXPIRED"
    TRANSFERRED_AWAY = "TRANSFERRED_AWAY"
    CANCELLED = "CANCELLED"
    FRAUD = "FRAUD"


class InvoiceStatus(StrEnum):
    UNPAID = "UNPAID"
    PAID = "PAID"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


class RefundKind(StrEnum):
    """Where a refund's money went (SPEC 13.3)."""

    GATEWAY = "GATEWAY"  # back to the card, through the gateway that took it
    CREDIT = "CREDIT"  # to the client's credit balance
    MANUAL = "MANUAL"  # returned by hand outside the system, recorded here


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"


@dataclass(frozen=True)
class BillableItem:
    """A service, addon or domain: what is billed each cycle."""

    id: int
    kind: ItemKind
    client_id: int
    order_id: int | None
    name: str
    amount: Decimal
    billing_cycle: BillingCycle
    status: str  # a ServiceStatus for services and addons, a DomainStatus for domains
    payment_method: str | None
    next_due_date: date | None
    created_at: datetime
    # Of a domain: whether it renews (SPEC 9.5); None for services and addons.
    auto_renew: bool | None = None
    # Of an addon: the service it is of, if any.
    service_id: int | None = None


@dataclass(frozen=True)
class Order:
    id: int
    client_id: int
    currency: str
    payment_method: str | None
    status: OrderStatus
    created_at: datetime
    items: tuple[BillableItem, ...]
    invoice_id: int | None


@dataclass(frozen=True)
class BilledTo:
    """Who an invoice is addressed to (SPEC 2.5), as it was when the invoice was made."""

    name: str
    company_name: str | None
    address1: str | None
    address2: str | None
    city: str | None
    state: str | None
    postcode: str | None
    country: str | None

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> BilledTo:
        return cls(
            name=value["name"],
            company_name=value.get("company_name"),
            address1=value.get("address1"),
            address2=value.get("address2"),
            city=value.get("city"),
            state=value.get("state"),
            postcode=value.get("postcode"),
            country=value.get("country"),
        )


@dataclass(frozen=True)
class Invoice:
    id: int
    client_id: int
    number: int
    status: InvoiceStatus
    issue_date: date
    due_date: date
    payment_method: str | None
    currency: str
    billed_to: BilledTo
    subtotal: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    credit: Decimal
    amount_paid: Decimal
    balance: Decimal
    paid_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class InvoiceItem:
    id: int
    invoice_id: int
    item_kind: ItemKind | None
    item_id: int | None
    description: str
    amount: Decimal
    taxed: bool


@dataclass(frozen=True)
class Transaction:
    id: int
    client_id: int
    invoice_id: int | None
    date: datetime
    gateway: str
    transaction_id: str | None
    amount: Decimal
    fees: Decimal
    currency: str
    # Who the client was, written when it is deleted (SPEC 7.2); None while it exists.
    client_name: str | None = None
    client_company_name: str | None = None
    # A refund (SPEC 13.3): the payment it returns, where the money went, and (of a payment
    # and of a refund) the part that was, or came out of, overpayment credit.
    refund_of: int | None = None
    refund_kind: RefundKind | None = None
    credited: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class TaxRule:
    id: int
    country: str
    state: str
    name: str
    rate: Decimal
