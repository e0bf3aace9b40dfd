"""What a merchant gateway plug-in is (SPEC 13.1): one module per gateway, each a class with
a `name` (its payment_gateways row) and `capture`; those that can give money back also have
`refund`. A plug-in holds no database connection: the caller records what it answers, so
that no gateway call runs inside a transaction holding locks.

Both calls carry an idempotency key: a caller that retries after a crash between the
gateway's answer and the commit that records it gets the first answer again, not a second
charge or a second refund. Those that keep cards themselves (Stripe) also `store_card`:
`capture` then gets the gateway's reference to the card, never a number.
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
    # The gateway's customer that `reference` belongs to (Stripe charges a customer's card).
    customer: str | None = None


@dataclass(frozen=True)
class CaptureResult:
    approved: bool
    transaction_id: str | None = None
    fees: Decimal = Decimal("0.00")
    message: str = ""
    # The gateway could not be reached (or answered an error of its own): not the card's
    # refusal, so the client is told to try again rather than to use another card.
    unavailable: bool = False


@dataclass(frozen=True)
class RefundResult:
    approved: bool
    refund_id: str | None = None
    message: str = ""


@dataclass(frozen=True)
class CardToStore:
    """A card as staff enter it, for a gateway that keeps it: the number and the CVV go to
    the gateway once and are never stored here (SPEC 4.2, 4.5)."""

    client_id: int
    number: str
    exp_month: int
    exp_year: int
    cvc: str | None
    email: str
    name: str


@dataclass(frozen=True)
class KeptCard:
    """The gateway's ids of a card it keeps: its customer and the card (payment method)."""

    customer: str
    reference: str


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
        invoice_id: int,
        idempotency_key: str,
    ) -> CaptureResult: ...


class RefundingGateway(PaymentGateway, Protocol):
    """A merchant gateway that can return (part of) a capture it made to the card."""

    async def refund(
        self, *, transaction_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult: ...


class TokenisingGateway(PaymentGateway, Protocol):
    """A merchant gateway that keeps the cards it charges: a client paying with it has its
    card stored there, and we keep only the ids it answers (SPEC 4.5)."""

    async def store_card(self, card: CardToStore, *, customer: str | None) -> KeptCard:
        """Add `card` to `customer` (a new customer when None); raises CardRefused when the
        gateway refuses the card, GatewayUnavailable when it cannot be reached."""
        ...

    async def forget_card(self, reference: str) -> None:
        """Take the card off its customer, so that it can no longer be charged (SPEC 4.4);
        raises GatewayUnavailable when the gateway cannot be reached."""
        ...


class CardRefused(Exception):
    """The gateway refused to keep a card; the message is the gateway's."""


class GatewayUnavailable(Exception):
    """The gateway could not be reached or failed on its side; nothing was stored."""
