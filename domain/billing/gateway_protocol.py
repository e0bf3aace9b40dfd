"""What a merchant gateway plug-in is (SPEC 13.1): one module per gateway, each a class with
a `name` (its payment_gateways row) and `capture`; those that can give money back also have
`refund`. A plug-in holds no database connection: the caller records what it answers, so
that no gateway call runs inside a transaction holding locks.

Both calls carry an idempotency key: a caller that retries after a crash between the
gateway's answer and the commit that records it gets the first answer again, not a second
charge or a second refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class CardOnFile:
    """The card a client pays with: the stored number, for gateways that take one, or the
    gateway's own reference to a card it keeps (a tokenising gateway never sees our copy)."""

    number: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class CaptureResult:
    approved: bool
    transaction_id: str | None = None
    fees: Decimal = Decimal("0.00")
    message: str = ""


@dataclass(frozen=True)
class RefundResult:
    approved: bool
    refund_id: str | None = None
    message: str = ""


class PaymentGateway(Protocol):
    """A merchant gateway; `name` is its row in payment_gateways."""

    name: str

    async def capture(
        self,
        *,
        amount: Decimal,
        currency: str,
        card: CardOnFile,
        description: str,
        idempotency_key: str,
    ) -> CaptureResult: ...


class RefundingGateway(PaymentGateway, Protocol):
    """A merchant gateway that can return (part of) a capture it made to the card."""

    async def refund(
        self, *, transaction_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult: ...
