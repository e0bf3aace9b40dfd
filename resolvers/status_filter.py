"""The product status filter of a staff session (SPEC 1.9) as a request sees it
(`clearProductStatusFilter` is in resolvers/auth.py, with the viewer that shows it)."""

from __future__ import annotations

import asyncio
from enum import StrEnum

from domain.billing.models import ItemKind
from domain.billing.status_filter import (
    StatusFilter,
    remember_status_filter,
    status_filter,
)
from resolvers.connection import RequestConnection


class SessionStatusFilter:
    """A staff session's filter in one request: brought by the session's own statement (or
    read when first needed), and written when a list asks for another choice, once however
    many clients of a page ask."""

    def __init__(self, db: RequestConnection) -> None:
        self._db = db
        self._known: StatusFilter | None = None
        self._lock = asyncio.Lock()

    def note(self, known: StatusFilter | None) -> None:
        """What the session is known to have chosen (None: unknown, read it when needed)."""
        self._known = known

    async def current(self, session_id: int) -> StatusFilter:
        async with self._lock:
            return await self._current(session_id)

    async def shown(
        self, session_id: int, kind: ItemKind, wanted: frozenset[StrEnum] | None
    ) -> frozenset[StrEnum] | None:
        """The statuses a list of items of `kind` shows: `wanted`, remembered, when given;
        else what the session chose."""
        async with self._lock:
            known = await self._current(session_id)
            if wanted is not None and known.of(kind) != wanted:
                known = known.choosing(kind, wanted)
                async with self._db.use() as conn:
                    await remember_status_filter(conn, session_id, known)
                self._known = known
            return known.of(kind)

    async def _current(self, session_id: int) -> StatusFilter:
        if self._known is None:
            async with self._db.use() as conn:
                self._known = await status_filter(conn, session_id)
        return self._known
