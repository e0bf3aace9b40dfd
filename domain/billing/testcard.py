"""The test gateway, for development and tests (never in production, SPEC 13.1): like the
test modes of real processors, the card number decides the outcome."""

from __future__ import annotations

import secrets
from decimal import Decimal

from domain.billing.gateway_protocol import CaptureResult, CardOnFile, RefundResult
from domain.cards.numbers import luhn_valid, normalise_number


class TestCardGateway:
    """Approves any valid card number except the well-known "declined" test numbers, and
    every refund. A key used again answers what it answered first, as a real processor's
    idempotency keys do (within one process: it keeps no state elsewhere)."""

    __test__ = False  # not a pytest test class, despite its name
    name = "testcard"
    DECLINED_NUMBERS = frozenset({"4000000000000002", "4000000000009995", "5105105105105100"})

    def __init__(self) -> None:
        self._answered: dict[str, CaptureResult | RefundResult] = {}

    async def capture(
        self,
        *,
        amount: Decimal,
        currency: str,
        card: CardOnFile,
        description: str,
        invoice_id: int,
        idempotency_key: str,
    ) -> CaptureResult:
        known = self._answered.get(idempotency_key)
        if isinstance(known, CaptureResult):
            return known
        digits = normalise_number(card.number or "")
        if not luhn_valid(digits):
            result = CaptureResult(approved=False, message="Invalid card number.")
        elif digits in self.DECLINED_NUMBERS:
            result = CaptureResult(approved=False, message="Card declined.")
        else:
            result = CaptureResult(approved=True, transaction_id=f"test_{secrets.token_hex(8)}")
        self._answered[idempotency_key] = result
        return result

    async def refund(
        self, *, transaction_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult:
        known = self._answered.get(idempotency_key)
        if isinstance(known, RefundResult):
            return known
        result = RefundResult(approved=True, refund_id=f"test_re_{secrets.token_hex(8)}")
        self._answered[idempotency_key] = result
        return result
