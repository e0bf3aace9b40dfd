"""Housekeeping jobs."""

from __future__ import annotations

from typing import Any

from domain import idempotency
from domain.auth.sessions import delete_expired_sessions
from workers.email import WorkerResources


async def purge_expired_sessions(ctx: dict[str, Any]) -> int:
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        return await delete_expired_sessions(conn)


async def purge_expired_idempotency_keys(ctx: dict[str, Any]) -> int:
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        return await idempotency.delete_expired_keys(conn)
