"""The general and automation settings and the currencies, kept in the process until
PostgreSQL says that they changed.

Every request that shows a client needs the general settings and the currencies, a
dashboard the automation settings (its time zone says what today is); they change a few
times a year. A trigger on each table (migrations/0019_reference_notify.sql) notifies
`CHANNEL` when its change commits, whichever process or connection made it; the cache
listens on a connection of its own and drops everything it holds on each notification.
While that connection is down (a PostgreSQL restart) nothing is kept and every read goes
to the database; the cache reconnects and keeps values again once it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import asyncpg

from domain.automation.settings import AutomationSettings, get_automation_settings
from domain.clients.models import Currency
from domain.clients.queries import all_currencies
from domain.listening import listen_forever
from domain.settings import GeneralSettings, get_general_settings

log = logging.getLogger(__name__)

CHANNEL = "clientdesk_reference"
# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "clientdesk reference cache"
T = TypeVar("T")
Connect = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


class ReferenceCache:
    def __init__(self, database_url: str, *, retry_seconds: float = 1.0) -> None:
        self._database_url = database_url
        self._retry_seconds = retry_seconds
        self._values: dict[str, Any] = {}
        # Changes with every drop: a value read before a drop is not kept after it.
        self._generation = 0
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self, *, wait_seconds: float = 5.0) -> None:
        """Start listening (and reconnecting); wait up to `wait_seconds` for the first
        connection, without which values are read from the database but not kept."""
        self._task = asyncio.create_task(
            listen_forever(
                self._listen_once,
                what="the reference cache",
                retry_seconds=self._retry_seconds,
                log=log,
            ),
            name="reference-cache",
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), wait_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def general_settings(self, connect: Connect) -> GeneralSettings:
        return await self._get("general_settings", get_general_settings, connect)

    async def automation_settings(self, connect: Connect) -> AutomationSettings:
        return await self._get("automation_settings", get_automation_settings, connect)

    async def currencies(self, connect: Connect) -> dict[str, Currency]:
        return await self._get("currencies", all_currencies, connect)

    async def _get(
        self, key: str, load: Callable[[asyncpg.Connection], Awaitable[T]], connect: Connect
    ) -> T:
        """The kept value, else one read on a connection from `connect` (and kept)."""
        if key in self._values:
            value: T = self._values[key]
            return value
        generation = self._generation
        async with connect() as conn:
            value = await load(conn)
        if self.listening and generation == self._generation:
            self._values[key] = value
        return value

    def drop(self) -> None:
        self._generation += 1
        self._values.clear()

    async def _listen_once(self) -> None:
        """Listen on one connection until PostgreSQL closes it; keep values meanwhile."""
        conn = await asyncpg.connect(
            self._database_url, server_settings={"application_name": APPLICATION_NAME}
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, lambda *_notification: self.drop())
            # Whatever was read before the LISTEN may have missed a change.
            self.drop()
            self._listening.set()
            await lost.wait()
        finally:
            self._listening.clear()
            self.drop()
            if not conn.is_closed():
                conn.terminate()
