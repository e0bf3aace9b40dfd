"""Each API process's one listener of committed events, fanned out to its subscribers.

PostgreSQL announces each statement's events when its transaction commits (in commit order;
never for a rollback); the hub listens on a connection of its own (`DATABASE_DIRECT_URL`: a
pooler in transaction mode cannot keep a LISTEN), reads the announced rows and offers each
event to the subscribers of its topic: those of every client and those of the event's client
(a commit wakes only the subscriptions it concerns, not every one of its topic). A
subscriber's queue is bounded (in statements: a
bulk change is one batch): one that falls that far behind is told once (`on_overflow`) and
gets nothing more, so that a slow consumer never grows the process's memory. When the
connection is lost the hub reconnects and first delivers what committed meanwhile, from the
table.

Changes to someone's right to read are announced too (a login id, or any); the watchers of
that login are called, to check their viewer again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import asyncpg

from domain.events.store import (
    ACCESS_CHANNEL,
    ANY_LOGIN,
    EVENTS_CHANNEL,
    Announcement,
    Event,
    Topic,
    announced_events,
    events_after,
    last_event_id,
)
from domain.listening import listen_forever

log = logging.getLogger(__name__)

APPLICATION_NAME = "clientdesk event hub"


# Whose events a subscriber receives: a topic, and one client's (an id) or every client's (None).
Audience = tuple[Topic, int | None]


class Subscriber:
    """One subscription's bounded queue: of batches (a statement's events of its topic and
    audience, shared by every subscriber of that audience), so that a bulk change is one
    item, not thousands."""

    def __init__(self, capacity: int, on_overflow: Callable[[], None]) -> None:
        self._queue: asyncio.Queue[Sequence[Event]] = asyncio.Queue(capacity)
        self._on_overflow = on_overflow
        self.overflowed = False

    def offer(self, batch: Sequence[Event]) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(batch)
        except asyncio.QueueFull:
            self.overflowed = True
            self._on_overflow()

    async def events(self) -> AsyncIterator[Event]:
        while True:
            for event in await self._queue.get():
                yield event


class EventHub:
    def __init__(
        self, listen_url: str, *, retry_seconds: float = 1.0, catch_up_limit: int = 10_000
    ) -> None:
        self._listen_url = listen_url
        self._retry_seconds = retry_seconds
        self._catch_up_limit = catch_up_limit
        self._subscribers: dict[Audience, set[Subscriber]] = {}
        self._watchers: dict[str, set[Callable[[], None]]] = {}
        # The highest event id delivered: where to catch up from after a lost connection.
        self._last_id: int | None = None
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self, *, wait_seconds: float = 5.0) -> None:
        self._task = asyncio.create_task(
            listen_forever(
                self._listen_once, what="the event hub", retry_seconds=self._retry_seconds, log=log
            ),
            name="event-hub",
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), wait_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.contextmanager
    def subscribe(
        self,
        topic: Topic,
        capacity: int,
        on_overflow: Callable[[], None],
        *,
        client_id: int | None = None,
    ) -> Iterator[Subscriber]:
        """A subscriber of the topic's events: of one client's if `client_id` is given."""
        audience = (topic, client_id)
        subscriber = Subscriber(capacity, on_overflow)
        self._subscribers.setdefault(audience, set()).add(subscriber)
        try:
            yield subscriber
        finally:
            subscribers = self._subscribers[audience]
            subscribers.discard(subscriber)
            if not subscribers:
                del self._subscribers[audience]

    @contextlib.contextmanager
    def watch_access(self, login_id: int, changed: Callable[[], None]) -> Iterator[None]:
        """Call `changed` whenever the access of `login_id` (or of everyone) may change."""
        watchers = self._watchers.setdefault(str(login_id), set())
        watchers.add(changed)
        try:
            yield
        finally:
            watchers.discard(changed)
            if not watchers:
                self._watchers.pop(str(login_id), None)

    def _access_changed(self, login: str) -> None:
        logins = list(self._watchers) if login == ANY_LOGIN else [login]
        for each in logins:
            for changed in list(self._watchers.get(each, ())):
                changed()

    def _dispatch(self, events: list[Event]) -> None:
        batches: dict[Audience, list[Event]] = {}
        for event in events:
            batches.setdefault((event.topic, None), []).append(event)
            if event.client_id is not None:
                batches.setdefault((event.topic, event.client_id), []).append(event)
            self._last_id = max(self._last_id or 0, event.id)
        for audience, batch in batches.items():
            for subscriber in list(self._subscribers.get(audience, ())):
                subscriber.offer(batch)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(
            self._listen_url, server_settings={"application_name": APPLICATION_NAME}
        )
        # Announcements in the order PostgreSQL delivers them (commit order); None: lost.
        announced: asyncio.Queue[Announcement | None] = asyncio.Queue()
        try:
            conn.add_termination_listener(lambda _conn: announced.put_nowait(None))
            await conn.add_listener(
                EVENTS_CHANNEL,
                lambda _c, _pid, _channel, payload: announced.put_nowait(
                    Announcement.parse(payload)
                ),
            )
            await conn.add_listener(
                ACCESS_CHANNEL, lambda _c, _pid, _channel, payload: self._access_changed(payload)
            )
            caught_up = await self._catch_up(conn)
            self._listening.set()
            while (announcement := await announced.get()) is not None:
                events = await announced_events(conn, announcement)
                self._dispatch([e for e in events if e.id not in caught_up])
        finally:
            self._listening.clear()
            if not conn.is_closed():
                conn.terminate()

    async def _catch_up(self, conn: asyncpg.Connection) -> set[int]:
        """Deliver what committed while the hub was not listening (nothing the first time);
        the ids delivered, which an announcement received meanwhile may name again."""
        if self._last_id is None:
            self._last_id = await last_event_id(conn)
            return set()
        missed = await events_after(conn, self._last_id, limit=self._catch_up_limit)
        self._dispatch(missed)
        # Access changes announced while the hub was not listening were missed: all check.
        self._access_changed(ANY_LOGIN)
        return {event.id for event in missed}
