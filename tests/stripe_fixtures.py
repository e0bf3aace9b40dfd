"""Fixtures of the Stripe gateway's tests: a real localstripe server, shared by the session,
and the app with Stripe configured against it (loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from app.settings import Settings
from app.web import create_app
from tests.stripe_server import SECRET_KEY, WEBHOOK_SECRET, LocalStripe


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """A real localstripe server on loopback, for the Stripe gateway (started on first use)."""
    server = LocalStripe().start()
    yield server
    server.stop()


def with_stripe(settings: Settings, server: LocalStripe) -> Settings:
    """`settings` with Stripe configured against `server`, and its webhook's secret."""
    return settings.model_copy(
        update={
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": server.url,
        }
    )


@pytest.fixture
async def stripe_api(
    settings: Settings, pool: asyncpg.Pool, localstripe: LocalStripe
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its Stripe gateway loaded and turned on, talking to localstripe."""
    await pool.execute("UPDATE payment_gateways SET enabled = true WHERE name = 'stripe'")
    app = create_app(with_stripe(settings, localstripe))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
