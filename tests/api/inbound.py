"""Helpers of the inbound-email tests: the app with an inbound-email secret set, and the mail
relay's post of one email."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.settings import Settings
from tests.api.test_serving import serve

SECRET = "inbound-test-secret"
# What a relay reports of a genuine email from a domain with a DMARC policy.
AUTHENTICATED = {"spf": "pass", "dkim": "pass", "dmarc": "pass"}


@asynccontextmanager
async def inbound_client(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with an inbound-email secret set, and any other settings given."""
    async with serve(
        settings.model_copy(update={"inbound_email_secret": SECRET, **overrides})
    ) as client:
        yield client


async def post_email(
    api: httpx.AsyncClient,
    sender: str,
    subject: str,
    text: str,
    *,
    secret: str | None = SECRET,
    authentication: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Post an email as the relay does; `authentication` None leaves its verdicts out."""
    headers = {"X-Inbound-Secret": secret} if secret is not None else {}
    email: dict[str, Any] = {"from": sender, "subject": subject, "text": text}
    if authentication is not None:
        email["authentication"] = dict(authentication)
    return await api.post("/inbound/email", json=email, headers=headers)
