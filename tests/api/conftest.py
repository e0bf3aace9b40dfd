"""Fixtures of the support-ticket tests (test_tickets, test_inbound_email,
test_inbound_forgery)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from app.settings import Settings
from tests.api.inbound import inbound_client
from tests.api.test_tickets import Desk, open_desk


@pytest.fixture
async def desk(conn: asyncpg.Connection) -> Desk:
    return await open_desk(conn)


@pytest.fixture
async def inbound_api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with an inbound-email secret set."""
    async with inbound_client(settings) as client:
        yield client
