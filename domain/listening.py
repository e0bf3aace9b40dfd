"""Listening to PostgreSQL notifications for as long as a process runs: a listener lives on one
connection, which a restart of PostgreSQL (or of a network path) ends; the listener connects
again, as often as it takes, and says so in the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg


async def listen_forever(
    listen_once: Callable[[], Awaitable[None]],
    *,
    what: str,
    retry_seconds: float,
    log: logging.Logger,
) -> None:
    """Run `listen_once` (which returns when its connection is lost) again and again,
    `retry_seconds` apart; `what` names the listener in the log."""
    while True:
        try:
            await listen_once()
            log.warning("%s lost its connection; reconnecting", what)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("%s cannot listen (%s); retrying", what, error)
        await asyncio.sleep(retry_seconds)
