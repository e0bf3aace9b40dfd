"""Fixtures of the support-ticket tests (test_tickets, test_inbound_email,
test_inbound_forgery), and the world of tests/world.py (test_lists, test_every_node)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from app.settings import Settings
from domain.files.stores import PostgresStore
from tests.api.inbound import inbound_client
from tests.api.test_tickets import Desk, open_desk
from tests.world import World, make_world


@pytest.fixture
async def desk(conn: asyncpg.Connection) -> Desk:
    return await open_desk(conn)


@pytest.fixture
async def inbound_api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with an inbound-email secret set."""
    async with inbound_client(settings) as client:
        yield client


@pytest.fixture
async def world(pool: asyncpg.Pool, settings: Settings) -> World:
    redis = Redis.from_url(settings.redis_url)
    try:
        return await make_world(pool, redis, PostgresStore(pool))
    finally:
        await redis.aclose()
