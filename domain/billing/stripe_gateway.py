"""The Stripe gateway plug-in (SPEC 4.5, 13.1), on the official `stripe` library.

Stripe keeps the card: storing one creates a Stripe customer (once per client) and a payment
method attached to it, and we keep their ids. A capture is an off-session PaymentIntent,
confirmed at once, on that customer's payment method; captures and refunds carry our
idempotency key, so Stripe answers a retried call with the first call's outcome instead of
charging or refunding again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import stripe

from domain.billing.gateway_protocol import (
    CaptureResult,
    CardOnFile,
    CardRefused,
    CardToStore,
    GatewayUnavailable,
    KeptCard,
    RefundResult,
)

T = TypeVar("T")

# Currencies Stripe counts in whole units (docs.stripe.com/currencies#zero-decimal), of those
# an installation can bill in; every other one of ours in hundredths.
ZERO_DECIMAL = frozenset({"JPY"})


def unreachable(what: str) -> str:
    return f"Stripe could not be reached: the {what} did not go through. Try again later."


@dataclass(frozen=True)
class StripeConfig:
    secret_key: str
    # Stripe's own API when empty; a localstripe server's address in tests and development.
    api_base: str = ""
    timeout_seconds: float = 30


def minor_units(amount: Decimal, currency: str) -> int | None:
    """`amount` in the currency's smallest unit, as Stripe counts it; None when it has a
    fraction of that unit (which Stripe cannot charge, and rounding would change)."""
    exponent = 0 if currency.upper() in ZERO_DECIMAL else 2
    scaled = amount.scaleb(exponent)
    return int(scaled) if scaled == scaled.to_integral_value() else None


def from_minor_units(amount: int, currency: str) -> Decimal:
    exponent = 0 if currency.upper() in ZERO_DECIMAL else 2
    return Decimal(amount).scaleb(-exponent).quantize(Decimal("0.01"))


class StripeGateway:
    """A merchant gateway that keeps its cards and can refund."""

    name = "stripe"

    def __init__(self, config: StripeConfig) -> None:
        self._config = config

    async def _call(self, request: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
        # A client (and its HTTP session) per call: card payments are few, and a session kept
        # open would be bound to one event loop and need closing by each process that loads
        # the plug-in. The library retries network failures, with the same idempotency key.
        http = stripe.AIOHTTPClient(timeout=self._config.timeout_seconds)
        client = stripe.StripeClient(
            self._config.secret_key,
            base_addresses={"api": self._config.api_base} if self._config.api_base else None,
            http_client=http,
            max_network_retries=1,
        )
        try:
            return await request(client)
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]

    async def store_card(self, card: CardToStore, *, customer: str | None) -> KeptCard:
        details: dict[str, Any] = {
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        }
        if card.cvc:
            details["cvc"] = card.cvc  # checked by Stripe once, never stored (SPEC 4.2)

        async def keep(client: stripe.StripeClient) -> KeptCard:
            owner = customer
            if owner is None:
                created = await client.v1.customers.create_async(
                    {
                        "email": card.email,
                        "name": card.name,
                        "metadata": {"client_id": str(card.client_id)},
                    }
                )
                owner = created.id
            method = await client.v1.payment_methods.create_async(
                {"type": "card", "card": details}  # type: ignore[arg-type]
            )
            await client.v1.payment_methods.attach_async(method.id, {"customer": owner})
            return KeptCard(customer=owner, reference=method.id)

        try:
            return await self._call(keep)
        except (stripe.CardError, stripe.InvalidRequestError) as refusal:
            raise CardRefused(refusal.user_message or "Stripe refused the card.") from refusal
        except stripe.StripeError as failure:
            raise GatewayUnavailable(unreachable("card")) from failure

    async def forget_card(self, reference: str) -> None:
        try:
            await self._call(lambda client: client.v1.payment_methods.detach_async(reference))
        except stripe.InvalidRequestError:
            return  # detached or removed at Stripe already: nothing left to forget
        except stripe.StripeError as failure:
            raise GatewayUnavailable(unreachable("card's removal")) from failure

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
        if card.reference is None or card.customer is None:
            return CaptureResult(
                approved=False,
                message="The stored card is not kept by Stripe: store the card again.",
            )
        units = minor_units(amount, currency)
        if units is None:
            return CaptureResult(
                approved=False, message=f"Stripe cannot charge {amount} {currency} exactly."
            )
        params: dict[str, Any] = {
            "amount": units,
            "currency": currency.lower(),
            "customer": card.customer,
            "payment_method": card.reference,
            "payment_method_types": ["card"],
            "off_session": True,
            "confirm": True,
            # The webhook finds the invoice of a payment Stripe confirms later by this.
            "metadata": {"invoice_id": str(invoice_id), "description": description},
        }
        try:
            intent = await self._call(
                lambda client: client.v1.payment_intents.create_async(
                    params,  # type: ignore[arg-type]
                    {"idempotency_key": idempotency_key},
                )
            )
        except (stripe.CardError, stripe.InvalidRequestError) as refusal:
            return CaptureResult(
                approved=False, message=refusal.user_message or "The card was declined."
            )
        except stripe.StripeError:
            return CaptureResult(approved=False, message=unreachable("payment"), unavailable=True)
        if intent.status != "succeeded":
            # Processing (or needing the cardholder): the webhook records it if Stripe
            # confirms it later (payment_intent.succeeded).
            return CaptureResult(
                approved=False,
                message=f"Stripe has not confirmed the payment yet ({intent.status}); it is "
                "recorded when it does.",
            )
        return CaptureResult(approved=True, transaction_id=intent.id)

    async def refund(
        self, *, transaction_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult:
        units = minor_units(amount, currency)
        if units is None:
            return RefundResult(
                approved=False, message=f"Stripe cannot refund {amount} {currency} exactly."
            )
        try:
            refund = await self._call(
                lambda client: client.v1.refunds.create_async(
                    {"payment_intent": transaction_id, "amount": units},
                    {"idempotency_key": idempotency_key},
                )
            )
        except (stripe.CardError, stripe.InvalidRequestError) as refusal:
            return RefundResult(
                approved=False, message=refusal.user_message or "Stripe refused the refund."
            )
        except stripe.StripeError:
            return RefundResult(approved=False, message=unreachable("refund"))
        if refund.status in ("failed", "canceled"):
            return RefundResult(approved=False, message=f"Stripe's refund {refund.status}.")
        return RefundResult(approved=True, refund_id=refund.id)
