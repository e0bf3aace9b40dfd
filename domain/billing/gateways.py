"""Payment gateways and automatic capture of card invoices (SPEC 1.5, 9.5).

A merchant gateway captures an amount from a card. The test gateway ships for development
and tests: like the test modes of real processors, the card number decides the outcome.
The caller says which card a client pays with (`card_number_for`): the daily automation
uses the stored card (SPEC 4, 9.5).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

import asyncpg

from domain.billing.payments import record_payment


@dataclass(frozen=True)
class CaptureResult:
    approved: bool
    transaction_id: str | None = None
    fees: Decimal = Decimal("0.00")
    message: str = ""


class PaymentGateway(Protocol):
    """A merchant gateway; `name` is its row in payment_gateways."""

    name: str

    async def capture(
        self, *, amount: Decimal, currency: str, card_number: str, description: str
    ) -> CaptureResult: ...


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


class TestCardGateway:
    """Approves any valid card number except the well-known "declined" test numbers."""

    __test__ = False  # not a pytest test class, despite its name
    name = "testcard"
    DECLINED_NUMBERS = frozenset({"4000000000000002", "4000000000009995", "5105105105105100"})

    async def capture(
        self, *, amount: Decimal, currency: str, card_number: str, description: str
    ) -> CaptureResult:
        digits = card_number.replace(" ", "").replace("-", "")
        if not luhn_valid(digits):
            return CaptureResult(approved=False, message="Invalid card number.")
        if digits in self.DECLINED_NUMBERS:
            return CaptureResult(approved=False, message="Card declined.")
        return CaptureResult(approved=True, transaction_id=f"test_{secrets.token_hex(8)}")


# The merchant gateway plug-ins the project ships, by the name of their payment_gateways row.
MERCHANT_PLUGINS: dict[str, type[PaymentGateway]] = {TestCardGateway.name: TestCardGateway}
# Approve any valid card number: never loaded, nor enabled, with ENVIRONMENT=production
# (SPEC 13.1), where they would record fake card payments as real.
TEST_GATEWAYS = frozenset({TestCardGateway.name})


def loaded_gateways(*, production: bool) -> dict[str, PaymentGateway]:
    """The merchant gateways an installation captures with: all but the test ones in
    production; whether each is on is still its payment_gateways row's say."""
    return {
        name: plugin()
        for name, plugin in MERCHANT_PLUGINS.items()
        if not (production and name in TEST_GATEWAYS)
    }


@dataclass(frozen=True)
class CaptureSummary:
    captured: list[int]
    declined: list[int]
    skipped: list[int]


async def capture_due_invoices(
    conn: asyncpg.Connection,
    *,
    as_of: date,
    gateways: Mapping[str, PaymentGateway],
    card_number_for: Callable[[int], Awaitable[str | None]],
    client_area_url: str,
) -> CaptureSummary:
    """Capture unpaid invoices due by `as_of` whose payment method is a merchant gateway,
    except those of clients with `ccProcessingDisabled` (they pay them by hand, SPEC 1.5).

    Each capture is its own transaction: a gateway call must not hold database locks, and
    one declined card must not undo the payments recorded before it."""
    due = await conn.fetch(
        """SELECT i.id, i.client_id, i.number, i.balance, i.payment_method, i.currency
             FROM invoices i
             JOIN clients c ON c.id = i.client_id
             JOIN payment_gateways g ON g.name = i.payment_method
            WHERE i.status = 'UNPAID' AND i.due_date <= $1 AND i.balance > 0
              AND g.kind = 'MERCHANT' AND g.enabled AND NOT c.cc_processing_disabled
            ORDER BY i.id""",
        as_of,
    )
    summary = CaptureSummary(captured=[], declined=[], skipped=[])
    for invoice in due:
        gateway = gateways.get(invoice["payment_method"])
        card_number = await card_number_for(invoice["client_id"])
        if gateway is None or card_number is None:
            summary.skipped.append(invoice["id"])
            continue
        result = await gateway.capture(
            amount=invoice["balance"],
            currency=invoice["currency"],
            card_number=card_number,
            description=f"Invoice #{invoice['number']}",
        )
        if not result.approved:
            summary.declined.append(invoice["id"])
            continue
        await record_payment(
            conn,
            invoice["id"],
            amount=invoice["balance"],
            gateway=gateway.name,
            transaction_id=result.transaction_id,
            fees=result.fees,
            staff_id=None,
            client_area_url=client_area_url,
        )
        summary.captured.append(invoice["id"])
    return summary
