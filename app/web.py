"""The Starlette application: GraphQL, GraphiQL, inbound email, health, readiness and
metrics."""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from importlib.resources import files
from typing import Any

from arq import create_pool as create_arq_pool
from arq.connections import ArqRedis, RedisSettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app.collector import settle_startup_objects
from app.cors import CORSMiddleware
from app.db import create_pool
from app.downloads import download_file, download_ticket_attachment
from app.filestores import open_file_store
from app.graphql_view import GraphQLEndpoint, error_response
from app.inbound import inbound_email_endpoint
from app.invoice_pdfs import download_invoice_pdf
from app.logs import RequestLog, current_request
from app.metrics import (
    CARD_SECRET_REFUSALS,
    EMAILS_ENQUEUED,
    MetricsMiddleware,
    metrics_endpoint,
)
from app.migrate import load_migrations, pending_migrations
from app.outages import (
    OUTAGE_MESSAGE,
    SERVICE_UNAVAILABLE,
    is_outage,
    log_failure,
)
from app.request_limits import BodyLimitMiddleware
from app.settings import Settings
from app.stripe_webhook import stripe_webhook_endpoint
from domain import secret_lists
from domain.auth.api_keys import KeyRateLimit
from domain.auth.throttle import LoginThrottle
from domain.billing.gateways import loaded_gateways
from domain.cards.secret_attempts import CardSecretAttempts
from domain.emails.rendering import TemplateRenderer
from domain.events.hub import EventHub
from domain.reference_cache import ReferenceCache
from resolvers.context import AppServices, SubscriptionServices
from workers.automation import enqueue_automation_run
from workers.email import enqueue_emails
from workers.resets import enqueue_reset_requests

log = logging.getLogger("clientdesk.web")
access_log = logging.getLogger("clientdesk.access")
# Probes and scrapes come every few seconds; their lines are kept for DEBUG.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

# What a caller's X-Request-ID may be to be kept: safe in logs and headers; UUIDs included.
USABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

GRAPHIQL_ASSETS = (
    files("graphene_django_graphiql_static") / "static" / "graphene_django_graphiql_static"
)


class RequestIdMiddleware:
    """Gives each request an id (or keeps the caller's X-Request-ID) and echoes it back; the
    request's log lines carry it, and one line at the end says how the request went."""

    def __init__(self, app: Any, *, access_log_share: float = 1.0) -> None:
        self.app = app
        self.access_log_share = access_log_share

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if USABLE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope["request_id"] = request_id
        request_log = RequestLog(request_id)
        request_token = current_request.set(request_log)
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if status >= 500 or random.random() < self.access_log_share:
                path = scope["path"]
                access_log.log(
                    logging.DEBUG if path in QUIET_PATHS else logging.INFO,
                    "%s %s %s",
                    scope["method"],
                    path,
                    status,
                    extra={"method": scope["method"], "path": path, "status": status},
                )
            current_request.reset(request_token)


class OutageMiddleware:
    """Answers a request that failed outside GraphQL on an outage (app/outages.py) with a
    503 to retry, logged as a warning: past here Starlette's last resort (`internal_error`)
    would answer, then re-raise, and uvicorn would log the traceback and drop the
    connection."""

    def __init__(self, app: Any, *, retry_after_seconds: int) -> None:
        self.app = app
        self.retry_after = str(retry_after_seconds)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:
            if started or not is_outage(exc):
                raise
            request_id = scope.get("request_id") or uuid.uuid4().hex
            log_failure(log, exc, "request %s: failed", request_id)
            response = error_response(
                503,
                SERVICE_UNAVAILABLE,
                OUTAGE_MESSAGE,
                request_id,
                {"Retry-After": self.retry_after},
            )
            await response(scope, receive, send)


async def internal_error(request: Request, exc: Exception) -> Response:
    """Any other failure outside GraphQL execution (this handler runs outside
    RequestIdMiddleware, so it sets the header too)."""
    request_id = request.scope.get("request_id") or uuid.uuid4().hex
    log.error("request %s: unhandled %s", request_id, type(exc).__name__, exc_info=exc)
    return error_response(
        500, "INTERNAL_SERVER_ERROR", "Internal error.", request_id, {"X-Request-ID": request_id}
    )


def create_app(settings: Settings) -> Starlette:
    migrations = load_migrations()  # what this code needs the database to have

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await create_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            mail_domain=settings.message_id_domain,
            reset_sessions=False,  # see `keep_session`
            statement_cache_size=settings.database_statement_cache_size,
        )
        redis: ArqRedis = await create_arq_pool(RedisSettings.from_dsn(settings.redis_url))
        reference = ReferenceCache(settings.direct_database_url)  # it listens: a session
        await reference.start()
        closing = contextlib.AsyncExitStack()
        files = await closing.enter_async_context(open_file_store(settings, pool))
        hub = EventHub(settings.direct_database_url, catch_up_limit=settings.event_replay_limit)
        await hub.start()

        def hand_to_workers(
            enqueue: Callable[[ArqRedis, list[int]], Awaitable[None]], what: str
        ) -> Callable[[list[int]], Awaitable[None]]:
            async def hand_over(ids: list[int]) -> None:
                try:
                    await enqueue(redis, ids)
                except Exception as error:
                    # What was committed is never lost: the workers' relay picks it up
                    # later. The mutation committed, so it answers its success even with
                    # Redis down.
                    log_failure(log, error, f"could not enqueue {what} %s; the relay will", ids)

            return hand_over

        async def count_enqueued_emails(redis: ArqRedis, email_ids: list[int]) -> None:
            await enqueue_emails(redis, email_ids)
            EMAILS_ENQUEUED.inc(len(email_ids))

        app.state.services = AppServices(
            pool=pool,
            redis=redis,
            enqueue_emails=hand_to_workers(count_enqueued_emails, "emails"),
            enqueue_reset_requests=hand_to_workers(enqueue_reset_requests, "reset requests"),
            throttle=LoginThrottle(
                redis,
                max_failures=settings.login_max_failures,
                cooldown_seconds=settings.login_cooldown_seconds,
                hash_budget=settings.password_hash_budget,
                trusted_hash_budget=settings.staff_password_hash_budget,
                hash_window_seconds=settings.password_hash_window_seconds,
            ),
            session_ttl=timedelta(hours=settings.session_ttl_hours),
            client_area_url=settings.client_area_base_url,
            secure_cookies=settings.secure_cookies,
            renderer=TemplateRenderer(settings.email_templates_dir),
            card_keyring=settings.card_keyring(),
            card_secrets=settings.card_secrets,
            card_secret_attempts=CardSecretAttempts(
                redis, on_refusal=lambda reason: CARD_SECRET_REFUSALS.labels(reason.value).inc()
            ),
            files=files,
            max_upload_bytes=settings.max_upload_bytes,
            enqueue_automation_run=functools.partial(enqueue_automation_run, redis),
            automation_wait_seconds=settings.automation_wait_seconds,
            reference=reference,
            subscriptions=SubscriptionServices(
                hub=hub,
                queue_size=settings.subscription_queue_size,
                replay_limit=settings.event_replay_limit,
            ),
            api_key_rate_limit=KeyRateLimit(redis, settings.api_key_rate_limit),
            production=settings.environment == "production",
            gateways=loaded_gateways(
                production=settings.environment == "production", stripe=settings.stripe_config()
            ),
        )
        # The pools and clients just opened live as long as the process too.
        settle_startup_objects()
        try:
            yield
        finally:
            await hub.stop()
            await closing.aclose()
            await reference.stop()
            await redis.aclose()
            await pool.close()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        services: AppServices = request.app.state.services
        checks: dict[str, str] = {}
        try:
            async with services.pool.acquire(timeout=2) as conn:
                pending = await pending_migrations(conn, migrations)
            checks["postgres"] = "ok"
            # Serving a database the code is ahead of fails every request; not ready.
            checks["migrations"] = f"pending: {', '.join(pending)}" if pending else "ok"
        except Exception as exc:
            checks["postgres"] = f"error: {type(exc).__name__}"
        try:
            await services.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(checks, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        if settings.metrics_tokens and not secret_lists.matches_any(
            request.headers.get("authorization", ""),
            [f"Bearer {token}" for token in settings.metrics_tokens],
        ):
            return PlainTextResponse(
                "A bearer token is required.", 401, headers={"WWW-Authenticate": "Bearer"}
            )
        return await metrics_endpoint(request)

    graphql = GraphQLEndpoint(lambda request: request.app.state.services, settings)
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            # Subscriptions: graphql-transport-ws and the legacy graphql-ws.
            WebSocketRoute("/graphql", graphql),
            Route("/inbound/email", inbound_email_endpoint(settings), methods=["POST"]),
            Route("/webhooks/stripe", stripe_webhook_endpoint(settings), methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/files/{id}", download_file, methods=["GET"]),
            Route("/ticket-attachments/{id}", download_ticket_attachment, methods=["GET"]),
            Route("/invoices/{id}.pdf", download_invoice_pdf, methods=["GET"]),
            Mount("/static/graphiql", StaticFiles(directory=str(GRAPHIQL_ASSETS))),
        ],
        lifespan=lifespan,
        exception_handlers={Exception: internal_error},
    )
    app.add_middleware(OutageMiddleware, retry_after_seconds=settings.outage_retry_after_seconds)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware, access_log_share=settings.access_log_share)
    app.add_middleware(CORSMiddleware, origins=settings.cors_origin_list)
    return app
