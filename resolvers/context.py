"""The per-request context: services, the viewer, DataLoaders, and transactions that hand
the emails they queued to the workers once committed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

from domain.auth import sessions
from domain.auth.throttle import LoginThrottle
from domain.auth.viewer import Viewer
from domain.cards.crypto import CardKeyring
from domain.emails import outbox
from domain.emails.templates import TemplateRenderer
from resolvers.loaders import Loaders
from schema.clients import ClientPresentation

log = logging.getLogger(__name__)

SESSION_COOKIE = "clientdesk_session"


@dataclass(frozen=True)
class AppServices:
    """Long-lived resources the app's lifespan owns, shared by every request."""

    pool: asyncpg.Pool
    redis: Redis
    enqueue_emails: Callable[[list[int]], Awaitable[None]]
    throttle: LoginThrottle
    session_ttl: timedelta
    public_url: str
    secure_cookies: bool
    renderer: TemplateRenderer
    # Encrypts stored cards; None when CARD_ENCRYPTION_KEYS is not set (cards refused).
    card_keyring: CardKeyring | None
    # The installation's CC encryption hash that staff present to reveal a card.
    card_secret: str


@dataclass
class Context:
    request: Request
    response: Response
    services: AppServices
    request_id: str
    loaders: Loaders = field(init=False)
    client_presentation: ClientPresentation | None = field(default=None, init=False)
    _viewer: Viewer | None = field(default=None, init=False)
    _viewer_loaded: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.services.pool)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.services.pool

    def session_token(self) -> str | None:
        """The bearer token, else the session cookie when the request is CSRF-safe.

        A browser sends cookies with cross-site form posts, which carry a simple content type;
        a JSON body (or a GET, which cannot mutate) cannot be sent cross-site without CORS.
        """
        header = self.request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip() or None
        cookie = self.request.cookies.get(SESSION_COOKIE)
        content_type = self.request.headers.get("content-type", "")
        if cookie and (self.request.method == "GET" or content_type.startswith("application/json")):
            return cookie
        return None

    async def get_viewer(self) -> Viewer | None:
        if not self._viewer_loaded:
            token = self.session_token()
            if token:
                async with self.pool.acquire() as conn:
                    self._viewer = await sessions.viewer_for_token(conn, token)
            self._viewer_loaded = True
        return self._viewer

    def set_viewer(self, viewer: Viewer | None) -> None:
        self._viewer, self._viewer_loaded = viewer, True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction; after it commits, the emails it queued go to the workers."""
        async with self.pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                yield conn
                xid = await outbox.current_transaction_id(conn)
            except BaseException:
                await tx.rollback()
                raise
            await tx.commit()
            if xid is not None:
                queued = await outbox.emails_queued_by_transaction(conn, xid)
                if queued:
                    await self.services.enqueue_emails(queued)

    @property
    def client_ip(self) -> str | None:
        return self.request.client.host if self.request.client else None
