"""The per-request context: services, the viewer, DataLoaders, and transactions that hand
the emails they queued to the workers once committed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

import asyncpg
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

from domain.auth import api_keys, passwords, sessions
from domain.auth.api_keys import KeyRateLimit, LastUse
from domain.auth.throttle import LoginThrottle
from domain.auth.viewer import Viewer
from domain.billing.gateway_protocol import PaymentGateway
from domain.billing.models import ItemKind
from domain.billing.status_filter import StatusFilter, stored_filter
from domain.cards.crypto import CardKeyring
from domain.cards.secret_attempts import CardSecretAttempts
from domain.emails import outbox
from domain.emails.rendering import TemplateRenderer
from domain.errors import DomainError, ErrorCode
from domain.events.hub import EventHub
from domain.files.storage import FileStore
from domain.reference_cache import ReferenceCache
from resolvers.connection import RequestConnection
from resolvers.fanout import Fanout
from resolvers.loaders import Loaders
from resolvers.status_filter import SessionStatusFilter
from schema.client_presentation import ClientPresentation

log = logging.getLogger(__name__)

SESSION_COOKIE = "clientdesk_session"
# Headers a cross-site form cannot send without a CORS preflight; a multipart request (an
# upload) must carry one of them, since its content type is one such forms can send.
CSRF_HEADERS = ("x-csrf-protection", "apollo-require-preflight")


def is_preflighted(headers: Mapping[str, str]) -> bool:
    """Whether the request carries a non-empty CSRF header (see CSRF_HEADERS)."""
    return any(headers.get(name, "").strip() for name in CSRF_HEADERS)


# How a WebSocket is closed when it falls behind its events (its send queue is full), and
# when its viewer may no longer read (a logout, a disabled member, a revoked key).
SLOW_CONSUMER = (1008, "Too slow to keep up with its events.")
ACCESS_ENDED = (4403, "Forbidden: the session or key no longer reads this.")


@dataclass(frozen=True)
class SubscriptionServices:
    """What subscriptions share in a process: the events' hub and their bounds."""

    hub: EventHub
    # Events one subscription may have waiting; past that, its WebSocket is closed.
    queue_size: int
    # The most missed events one `after` replays.
    replay_limit: int
    # One event's object and result, made once for the process's sockets that receive it.
    fanout: Fanout = field(default_factory=Fanout)


@dataclass(frozen=True)
class AppServices:
    """Long-lived resources the app's lifespan owns, shared by every request."""

    pool: asyncpg.Pool
    redis: Redis
    enqueue_emails: Callable[[list[int]], Awaitable[None]]
    # Hands recorded password reset requests to the workers, which answer them (SPEC 5.2).
    enqueue_reset_requests: Callable[[list[int]], Awaitable[None]]
    throttle: LoginThrottle
    session_ttl: timedelta
    client_area_url: str  # the base of every link in an email
    secure_cookies: bool
    renderer: TemplateRenderer
    # Encrypts stored cards; None when CARD_ENCRYPTION_KEYS is not set (cards refused).
    card_keyring: CardKeyring | None
    # The installation's CC encryption hashes that staff present to reveal a card (the
    # current one first, then those still accepted while the secret rotates).
    card_secrets: tuple[str, ...]
    # Wrong card secrets per staff member, and the back-off after them (SPEC 4.3).
    card_secret_attempts: CardSecretAttempts
    # Where client files' bytes are stored (FILE_STORAGE), and the largest accepted (SPEC 6.2).
    files: FileStore
    max_upload_bytes: int
    # Hands the daily automation run of a date to the workers (runAutomation).
    enqueue_automation_run: Callable[[date], Awaitable[None]]
    # How long runAutomation waits for the run to finish.
    automation_wait_seconds: float
    # The general settings and currencies, kept until PostgreSQL notifies a change.
    reference: ReferenceCache
    subscriptions: SubscriptionServices
    # Requests per API key per minute, counted in Redis (SPEC 11.3).
    api_key_rate_limit: KeyRateLimit
    # ENVIRONMENT=production: the test payment gateway cannot be turned on (SPEC 13.1).
    production: bool
    # The merchant gateway plug-ins loaded, by name: what payInvoice captures and
    # refundTransaction refunds through (the worker loads the same, SPEC 13.1).
    gateways: Mapping[str, PaymentGateway]
    # When this process last wrote each key's lastUsedAt.
    api_key_last_use: LastUse = field(default_factory=LastUse)
    # Transactions that hash a password, one per hashing thread at a time.
    hashing_turns: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(passwords.HASHING_THREADS)
    )


@asynccontextmanager
async def handing_over_emails(
    conn: asyncpg.Connection, enqueue: Callable[[list[int]], Awaitable[None]]
) -> AsyncIterator[None]:
    """A transaction on `conn`; once it commits, the emails it queued go to the workers
    (`enqueue`) at once rather than at the worker's next relay of the outbox."""
    tx = conn.transaction()
    await tx.start()
    try:
        yield
        xid = await outbox.current_transaction_id(conn)
    except BaseException:
        await tx.rollback()
        raise
    await tx.commit()
    if xid is not None:
        queued = await outbox.emails_queued_by_transaction(conn, xid)
        if queued:
            await enqueue(queued)


@dataclass
class Context:
    request: Request
    response: Response
    services: AppServices
    request_id: str
    # The one pooled connection of the request (`connection()`); given back when it ends.
    db: RequestConnection = field(init=False)
    loaders: Loaders = field(init=False)
    client_presentation: ClientPresentation | None = field(default=None, init=False)
    _viewer: Viewer | None = field(default=None, init=False)
    _viewer_loaded: bool = field(default=False, init=False)
    # The staff session's product status filter (SPEC 1.9), read or written once per request.
    status_filter: SessionStatusFilter = field(init=False)
    # A WebSocket's `connection_init` payload (Strawberry sets it): its `authorization`.
    connection_params: dict[str, object] | None = field(default=None, init=False)
    # A WebSocket's: closes it with a (code, reason), set by the endpoint.
    close_connection: Callable[[tuple[int, str]], None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # A WebSocket lives for hours: it takes a connection for each use only, never keeps one.
        self.db = RequestConnection(self.services.pool, keep=not self.is_websocket)
        self.status_filter = SessionStatusFilter(self.db)
        self.loaders = Loaders(self.db, self.services.reference, self.product_statuses)

    @property
    def is_websocket(self) -> bool:
        return bool(self.request.scope["type"] == "websocket")

    def refresh(self) -> None:
        """Forget what was read for earlier results (each event of a subscription is read
        afresh, as a new request would read it)."""
        self.loaders = Loaders(self.db, self.services.reference, self.product_statuses)
        self.client_presentation = None

    def end_slow_connection(self) -> None:
        if self.close_connection is not None:
            self.close_connection(SLOW_CONSUMER)

    def forget_viewer(self) -> None:
        """Look the viewer up again at its next use: its session, key or grants may have
        changed since (a WebSocket checks them again while it lives)."""
        self._viewer, self._viewer_loaded = None, False
        self.status_filter.note(None)

    @property
    def pool(self) -> asyncpg.Pool:
        """The pool itself, for work that takes and gives back connections on its own
        terms (a login holds none while its password hash waits)."""
        return self.services.pool

    def connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """The request's connection, held alone until the block ends (`RequestConnection`)."""
        return self.db.use()

    def session_token(self) -> str | None:
        """The bearer token, else the session cookie when the request is CSRF-safe.

        A browser sends cookies with cross-site form posts, which carry a simple content type;
        a JSON body (or a GET, which cannot mutate) cannot be sent cross-site without CORS,
        nor can a multipart upload with a CSRF header (`is_preflighted`).
        """
        header = self.request.headers.get("authorization", "")
        if self.is_websocket:
            # A browser cannot set headers on a WebSocket: the token comes in connection_init.
            # Its cookie is sent only from origins Strawberry allowed (cross-site pages
            # refused at the handshake).
            given = (self.connection_params or {}).get("authorization")
            header = given if isinstance(given, str) else header
            if not header.lower().startswith("bearer "):
                return self.request.cookies.get(SESSION_COOKIE)
        if header.lower().startswith("bearer "):
            return header[7:].strip() or None
        cookie = self.request.cookies.get(SESSION_COOKIE)
        content_type = self.request.headers.get("content-type", "")
        if cookie and (
            self.request.method == "GET"
            or content_type.startswith("application/json")
            or (content_type.startswith("multipart/") and is_preflighted(self.request.headers))
        ):
            return cookie
        return None

    async def get_viewer(self) -> Viewer | None:
        if not self._viewer_loaded:
            token = self.session_token()
            if token and api_keys.is_api_key_secret(token):
                async with self.connection() as conn:
                    self._viewer = await api_keys.viewer_for_secret(conn, token)
                    if self._viewer is not None:
                        assert self._viewer.api_key_id is not None
                        await self.services.api_key_last_use.record(conn, self._viewer.api_key_id)
            elif token:
                async with self.connection() as conn:
                    session = await sessions.session_for_token(conn, token)
                if session is not None:
                    self._viewer = session.viewer
                    if session.viewer.is_staff:
                        # Read with the session, in the same statement, for this request only.
                        self.status_filter.note(
                            stored_filter(
                                session.service_status_filter, session.domain_status_filter
                            )
                        )
            self._viewer_loaded = True
        return self._viewer

    async def second_factor_missing(self) -> bool:
        """Whether this is a staff session without the second factor that the general
        settings require of staff (SPEC 11.2); the settings are read only for such a one."""
        viewer = await self.get_viewer()
        if viewer is None or not viewer.staff_without_second_factor:
            return False
        general = await self.services.reference.general_settings(self.connection)
        return general.require_staff_two_factor

    async def product_statuses(
        self, kind: ItemKind, wanted: frozenset[StrEnum] | None
    ) -> frozenset[StrEnum] | None:
        """Which statuses a client's list of items of `kind` shows; None: all (SPEC 1.9).

        Staff choose with `statuses`, and the choice is remembered with their login session,
        for every client, until it ends (services and addons share one, domains have their
        own); without `statuses` the remembered choice applies. Client-area viewers and API
        keys filter per request only."""
        session_id = await self._staff_session_id()
        if session_id is None:
            return wanted
        return await self.status_filter.shown(session_id, kind, wanted)

    async def product_status_filter(self) -> StatusFilter | None:
        """What the staff session chose (`viewer.productStatusFilter`); None for a viewer
        who has nothing remembered (client area, API keys)."""
        session_id = await self._staff_session_id()
        return None if session_id is None else await self.status_filter.current(session_id)

    async def _staff_session_id(self) -> int | None:
        viewer = await self.get_viewer()
        if viewer is None or not viewer.is_staff:
            return None
        return viewer.session_id

    def set_viewer(self, viewer: Viewer | None) -> None:
        self._viewer, self._viewer_loaded = viewer, True

    @asynccontextmanager
    async def _turn_to_hash(self, hashing: bool) -> AsyncIterator[None]:
        """For a transaction that hashes a password: spend from the budgets of the viewer's
        kind (SPEC 5.4, `throttle.HASH_BUDGET_OF`; a DomainError TOO_MANY_ATTEMPTS when one is
        spent), then wait, holding no connection, until the hashing threads are free for it."""
        if not hashing:
            yield
            return
        viewer = await self.get_viewer()
        if viewer is None:
            login = "anonymous"
        elif viewer.api_key_id is not None:
            login = f"api-key:{viewer.api_key_id}"
        else:
            login = f"login:{viewer.login_id}"
        kind = viewer.kind if viewer else None
        if not await self.services.throttle.spend_password_hash(login, self.client_ip, kind):
            raise DomainError.single(
                ErrorCode.TOO_MANY_ATTEMPTS,
                "Too many password changes. Try again later.",
                "password",
            )
        # The wait may be long: the request's connection goes back to the pool meanwhile.
        await self.db.give_back()
        async with self.services.hashing_turns:
            yield

    async def _name_api_key_in_audit(self, conn: asyncpg.Connection) -> None:
        """In a key's transaction, every audit entry names the key (audit_log.api_key_id's
        default reads the setting, local to the transaction)."""
        viewer = self._viewer if self._viewer_loaded else None
        if viewer is not None and viewer.api_key_id is not None:
            await conn.execute(
                "SELECT set_config('clientdesk.api_key_id', $1, true)", str(viewer.api_key_id)
            )

    @asynccontextmanager
    async def transaction(
        self, *, hashing_password: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        """A transaction; after it commits, the emails it queued go to the workers.

        One that hashes a password (`hashing_password`) is budgeted, and takes its connection
        only when the hashing threads are free for it: password changes queued for them
        would otherwise hold connections other requests wait for."""
        async with (
            self._turn_to_hash(hashing_password),
            self.connection() as conn,
            handing_over_emails(conn, self.services.enqueue_emails),
        ):
            await self._name_api_key_in_audit(conn)
            yield conn

    @property
    def client_area_url(self) -> str:
        """The client area's address, the base of its links (a referral URL)."""
        return self.services.client_area_url

    @property
    def client_ip(self) -> str | None:
        return self.request.client.host if self.request.client else None
