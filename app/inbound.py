"""`POST /inbound/email` (SPEC 2.3): the mail relay hands over an email to a support address
as JSON `{from, subject, text, authentication}`; it opens a ticket, or adds to the one whose
reference (number and reply token) its subject carries. `authentication`, optional, holds
the relay's verdicts on the From: `{"spf": "pass", "dkim": "pass", "dmarc": "pass"}`, each
method optional, each an RFC 8601 result (domain/tickets/inbound.py reads them).

The relay proves itself with the `X-Inbound-Secret` header, compared in constant time with
each of INBOUND_EMAIL_SECRET's comma-separated secrets (the first current, the others still
accepted while the relay moves over); without that setting the route takes nothing.
Refusals are JSON `{"errors": [{field, code, message}]}`: 503 while the secret is unset, 401
for a wrong or missing secret, 400 for a body that is not such an object, 422 for an email
that cannot become a ticket (an unknown sender, a contact without the SUPPORT tick opening
one, a reference to a ticket the sender may not write in, a From that is not exactly one
well-formed address, or one the relay found forged, among them: an email never creates a
client; each refusal is logged), 413
(the app's body limit) for a body too large. 201 answers a new ticket, 200 an addition to one;
the body names the ticket.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.request_limits import JSONTooDeep, load_bounded_json
from app.settings import Settings
from domain import secret_lists
from domain.errors import DomainError, ErrorCode, FieldError
from domain.tickets import inbound
from resolvers.context import AppServices, handing_over_emails
from schema.ids import global_id

log = logging.getLogger("clientdesk.inbound")
FIELDS = ("from", "subject", "text")
_NO_SECRET = "Inbound email is off: INBOUND_EMAIL_SECRET is not set."  # noqa: S105
_BAD_SECRET = "A valid X-Inbound-Secret header is required."  # noqa: S105
_BAD_BODY = (
    'The body must be a JSON object {"from", "subject", "text"} of strings, with an optional'
    ' "authentication" object of strings.'
)


def _refusal(status: int, errors: list[FieldError]) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [
                {"field": e.field, "code": e.code.value, "message": e.message} for e in errors
            ]
        },
        status_code=status,
    )


def _is_email(body: Any) -> bool:
    """Whether a decoded body is an email object: the strings of FIELDS, and an
    `authentication` that is absent, null, or an object of strings."""
    if not isinstance(body, dict) or not all(isinstance(body.get(name), str) for name in FIELDS):
        return False
    verdicts = body.get("authentication")
    return verdicts is None or (
        isinstance(verdicts, dict) and all(isinstance(v, str) for v in verdicts.values())
    )


def inbound_email_endpoint(settings: Settings) -> Any:
    async def inbound_email(request: Request) -> JSONResponse:
        if not settings.inbound_email_secrets:
            return _refusal(503, [FieldError(None, ErrorCode.NOT_CONFIGURED, _NO_SECRET)])
        given = request.headers.get("x-inbound-secret", "")
        if not secret_lists.matches_any(given, settings.inbound_email_secrets):
            return _refusal(401, [FieldError(None, ErrorCode.INVALID_CREDENTIALS, _BAD_SECRET)])
        try:
            email = load_bounded_json(await request.body(), settings.max_json_depth)
        except (orjson.JSONDecodeError, JSONTooDeep):
            email = None
        if not _is_email(email):
            return _refusal(400, [FieldError(None, ErrorCode.INVALID, _BAD_BODY)])
        app_services: AppServices = request.app.state.services
        try:
            async with (
                app_services.pool.acquire() as conn,
                handing_over_emails(conn, app_services.enqueue_emails),
            ):
                received = await inbound.receive_email(
                    conn,
                    email["from"],
                    email["subject"],
                    email["text"],
                    authentication=email.get("authentication"),
                    require_authentication=settings.inbound_email_require_authentication,
                    client_area_url=app_services.client_area_url,
                )
        except DomainError as error:
            # The relay bounces it with the refusal; the log says why it was refused.
            log.info(
                "inbound email refused: %s",
                "; ".join(f"{e.field}: {e.code.value} {e.message}" for e in error.errors),
            )
            return _refusal(422, error.errors)
        ticket = received.ticket
        return JSONResponse(
            {
                "ticket": global_id("Ticket", ticket.id),
                "reference": ticket.reference,
                "opened": received.opened,
            },
            status_code=201 if received.opened else 200,
        )

    return inbound_email
