"""Housekeeping jobs."""

from __future__ import annotations

from typing import Any

from domain import idempotency
from domain.auth.sessions import delete_expired_sessions
from domain.events.store import purge_events
from workers.email import WorkerResources


async def purge_expired_sessions(ctx: dict[str, Any]) -> int:
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        return await delete_expired_sessions(conn)


async def purge_expired_idempotency_keys(ctx: dict[str, Any]) -> int:
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        return await idempotency.delete_expired_keys(conn)


async def purge_old_events(ctx: dict[str, Any]) -> int:
    """Events past the retention window: a subscriber gone longer must read afresh."""
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        return await purge_events(conn, resources.event_retention)
