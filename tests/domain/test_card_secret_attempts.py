"""SPEC 4.3: wrong card secrets back off per staff member, longer each time (issue 17, defect
8), against the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from domain.cards.secret_attempts import ALLOWANCE, CardSecretAttempts, SecretRefusal
from tests.conftest import Services

STAFF_LOGIN, OTHER_STAFF_LOGIN = 7, 8


@pytest.fixture
async def redis(services: Services) -> AsyncIterator[Redis]:
    client = Redis.from_url(services.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


async def guess_wrong(attempts: CardSecretAttempts, login_id: int, times: int) -> None:
    for _ in range(times):
        assert await attempts.begin(login_id) == 0
        await attempts.wrong(login_id)


async def test_4_3_each_wrong_secret_past_the_allowance_doubles_the_back_off(
    redis: Redis,
) -> None:
    refusals: list[SecretRefusal] = []
    attempts = CardSecretAttempts(redis, on_refusal=refusals.append, first_backoff_seconds=1)
    await guess_wrong(attempts, STAFF_LOGIN, ALLOWANCE)
    assert await attempts.begin(STAFF_LOGIN) == 1
    assert await attempts.begin(OTHER_STAFF_LOGIN) == 0  # each staff member has their own

    await asyncio.sleep(1.05)
    await guess_wrong(attempts, STAFF_LOGIN, 1)  # the back-off is over: one more try...
    assert await attempts.begin(STAFF_LOGIN) == 2  # ...and a wrong one doubles it
    assert refusals.count(SecretRefusal.WRONG) == ALLOWANCE + 1
    assert refusals.count(SecretRefusal.BACKING_OFF) == 2


async def test_4_3_a_right_secret_clears_the_count(redis: Redis) -> None:
    attempts = CardSecretAttempts(redis, on_refusal=lambda refusal: None)
    await guess_wrong(attempts, STAFF_LOGIN, ALLOWANCE - 1)
    assert await attempts.begin(STAFF_LOGIN) == 0
    await attempts.right(STAFF_LOGIN)
    await guess_wrong(attempts, STAFF_LOGIN, ALLOWANCE)
    assert await attempts.begin(STAFF_LOGIN) > 0


async def test_4_3_an_attempt_given_back_spends_nothing_of_the_allowance(redis: Redis) -> None:
    """Also the one that would have been its last, and the back-off it started at once."""
    attempts = CardSecretAttempts(redis, on_refusal=lambda refusal: None)
    await guess_wrong(attempts, STAFF_LOGIN, ALLOWANCE - 1)
    for _ in range(3):
        assert await attempts.begin(STAFF_LOGIN) == 0
        await attempts.give_back(STAFF_LOGIN)
    await guess_wrong(attempts, STAFF_LOGIN, 1)
    assert await attempts.begin(STAFF_LOGIN) > 0
