"""One pooled connection per request, shared by its resolvers and DataLoaders in turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


class RequestConnection:
    """The request's connection: taken from the pool when first used, given back when the
    request ends (or before a long wait: `give_back`).

    An asyncpg connection runs one statement at a time, and a request's resolvers and
    DataLoader batches run concurrently: each `use()` holds the connection alone until it
    is done, so a transaction is never shared with another resolver's statements. A `use()`
    nested in the same task (a resolver inside a transaction reading through a helper that
    takes the connection itself) gets the connection it already holds."""

    def __init__(self, pool: asyncpg.Pool, *, keep: bool = True) -> None:
        self._pool = pool
        # False: given back after each use (a WebSocket's, which would hold it for hours).
        self._keep = keep
        self._conn: asyncpg.Connection | None = None
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None
        # How many connections this request took from the pool (tests count them).
        self.acquired = 0

    @asynccontextmanager
    async def use(self) -> AsyncIterator[asyncpg.Connection]:
        task = asyncio.current_task()
        if self._conn is not None and self._holder is task:
            yield self._conn
            return
        async with self._turn:
            if self._conn is not None and _lost(self._conn):
                await self._give_back()
            if self._conn is None:
                self._conn = await self._pool.acquire()
                self.acquired += 1
            self._holder = task
            try:
                yield self._conn
            finally:
                self._holder = None
                if not self._keep:
                    await self._give_back()

    async def give_back(self) -> None:
        """Return the connection to the pool (once no resolver uses it); a later `use()`
        takes one again. Called when the request ends, and before a long wait."""
        async with self._turn:
            await self._give_back()

    async def _give_back(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pool.release(conn)


def _lost(conn: asyncpg.Connection) -> bool:
    """Whether the server closed `conn` (a restart, an outage). asyncpg then takes it back
    into the pool at once, and the proxy we hold refuses every call, is_closed() too."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:
        return True
