"""`POST /webhooks/stripe` (SPEC 13.6): Stripe's events, verified with the endpoint's signing
secret (STRIPE_WEBHOOK_SECRET) by the `stripe` library, and recorded once each
(domain/billing/stripe_events.py).

Answers: 200 `{"received": true, "replay": false}` for an event recorded now, `"replay":
true` for one recorded before (Stripe stops sending an event once it gets a 2xx); refusals in
the JSON of GraphQL errors: 400 BAD_SIGNATURE for a missing or wrong signature (or a body
that is no event), 503 NOT_CONFIGURED while the secret is unset.
"""

from __future__ import annotations

import uuid
from typing import Any

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.graphql_view import error_response
from app.settings import Settings
from domain.billing.stripe_events import record_event
from resolvers.context import AppServices


def stripe_webhook_endpoint(settings: Settings) -> Any:
    async def stripe_webhook(request: Request) -> Response:
        request_id = request.scope.get("request_id") or uuid.uuid4().hex
        if not settings.stripe_webhook_secret:
            return error_response(
                503,
                "NOT_CONFIGURED",
                "Stripe's webhook is off: STRIPE_WEBHOOK_SECRET is not set.",
                request_id,
                {},
            )
        payload = await request.body()
        try:
            event = stripe.Webhook.construct_event(
                payload, request.headers.get("stripe-signature"), settings.stripe_webhook_secret
            )
        except (ValueError, stripe.SignatureVerificationError):
            return error_response(
                400,
                "BAD_SIGNATURE",
                "The Stripe-Signature header does not sign this body with the endpoint's secret.",
                request_id,
                {},
            )
        services: AppServices = request.app.state.services
        async with services.pool.acquire() as conn:
            fresh = await record_event(
                conn, event.to_dict(), client_area_url=services.client_area_url
            )
        return JSONResponse({"received": True, "replay": not fresh})

    return stripe_webhook
