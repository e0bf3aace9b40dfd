"""Answering forgotten-password requests (SPEC 5.2).

The API records each request and hands its id over; a job answers it: it looks the address
up and, when it has a login, issues the token and queues the email, then hands that email to
the senders. The relay answers what was recorded but never handed over (Redis away), so
Redis holds nothing PostgreSQL cannot rebuild.
"""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis

from domain.auth import resets
from workers.email import WorkerResources, enqueue_emails

ANSWER_RESET_REQUESTS = "answer_reset_requests"


async def enqueue_reset_requests(redis: ArqRedis, request_ids: list[int]) -> None:
    """Hand recorded reset requests to the workers."""
    await redis.enqueue_job(ANSWER_RESET_REQUESTS, request_ids)


async def _answer(ctx: dict[str, Any], request_ids: list[int] | None, waited: float) -> None:
    # Returns nothing, so that no job record says which addresses have logins.
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        email_ids = await resets.answer_reset_requests(
            conn,
            client_area_url=resources.automation.client_area_url,
            request_ids=request_ids,
            waited_seconds=waited,
        )
    # Queued in the outbox already: should this hand-over fail, the email relay sends them.
    await enqueue_emails(ctx["redis"], email_ids)


async def answer_reset_requests(ctx: dict[str, Any], request_ids: list[int]) -> None:
    """The job: answer these requests (any already answered are skipped)."""
    await _answer(ctx, request_ids, 0.0)


async def relay_reset_requests(ctx: dict[str, Any]) -> None:
    """Answer every request that waited a relay interval, its hand-over lost."""
    resources: WorkerResources = ctx["resources"]
    await _answer(ctx, None, resources.relay_after_seconds)
