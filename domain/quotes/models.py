"""A quote and its lines, as read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from domain.billing.models import BillingCycle


class QuoteStatus(StrEnum):
    DRAFT = "DRAFT"  # being written: the client area does not see it
    SENT = "SENT"  # emailed; the client may accept it until its date
    ACCEPTED = "ACCEPTED"  # turned into its invoice
    # Never stored: a sent quote past its valid-until date (`Quote.status`).
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class QuoteLine:
    description: str
    amount: Decimal
    # A product of the catalogue, by row id, which accepting the quote orders at `amount`
    # each `billing_cycle`; None for a line of text and price only (or whose product is gone).
    product_id: int | None
    billing_cycle: BillingCycle | None = None


@dataclass(frozen=True)
class Quote:
    id: int
    client_id: int
    stored_status: QuoteStatus
    valid_until: date
    currency: str
    subtotal: Decimal
    invoice_id: int | None
    created_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    lines: tuple[QuoteLine, ...]

    def status(self, today: date) -> QuoteStatus:
        """What it is on `today`: EXPIRED once past its date unless accepted."""
        if self.stored_status is not QuoteStatus.ACCEPTED and today > self.valid_until:
            return QuoteStatus.EXPIRED
        return self.stored_status
