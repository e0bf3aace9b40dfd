"""The Starlette application: GraphQL, GraphiQL, inbound email, health, readiness and
metrics."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
from arq import create_pool as create_arq_pool
from arq.connections import ArqRedis, RedisSettings
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types.unset import UNSET

from app.cors import CORSMiddleware
from app.db import create_pool
from app.downloads import download_file
from app.graphql import build_schema
from app.graphql_codes import TIME_BUDGET_EXCEEDED
from app.graphql_documents import exempt_start_up_objects_from_collection
from app.inbound import inbound_email_endpoint
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
    reports_outage,
)
from app.request_limits import BodyLimitMiddleware, JSONTooDeep, load_bounded_json
from app.settings import Settings
from domain import secret_lists
from domain.auth.throttle import LoginThrottle
from domain.cards.secret_attempts import CardSecretAttempts
from domain.emails.templates import TemplateRenderer
from domain.reference_cache import ReferenceCache
from resolvers.context import AppServices, Context, is_preflighted
from workers.automation import enqueue_automation_run
from workers.email import enqueue_emails

log = logging.getLogger("clientdesk.web")
access_log = logging.getLogger("clientdesk.access")
# Probes and scrapes come every few seconds; their lines are kept for DEBUG.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

# What a caller's X-Request-ID may be to be kept: safe in logs and headers; UUIDs included.
USABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

GRAPHIQL_PAGE = (Path(__file__).parent / "static" / "graphiql.html").read_text()
GRAPHIQL_ASSETS = (
    files("graphene_django_graphiql_static") / "static" / "graphene_django_graphiql_static"
)


# Where `GraphQLEndpoint.get_context` leaves the request's context in the ASGI scope.
_CONTEXT_KEY = "clientdesk.context"


class GraphQLEndpoint(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, JSON encoder and offline GraphiQL, and 503
    for an outage."""

    def __init__(self, services_of: Any, settings: Settings) -> None:
        self._max_json_depth = settings.max_json_depth
        self._retry_after = str(settings.outage_retry_after_seconds)
        self._time_budget = settings.request_time_budget_seconds
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
            # Uploads (uploadClientFile), each with a CSRF header: see `parse_multipart`.
            multipart_uploads_enabled=True,
        )
        self._services_of = services_of

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        context = Context(
            request=request,  # type: ignore[arg-type]
            response=response,
            services=self._services_of(request),
            request_id=request.scope.get("request_id") or uuid.uuid4().hex,
        )
        request.scope[_CONTEXT_KEY] = context  # for `run` to give its connection back
        return context

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Strawberry's within the request's time budget, then the request's database
        connection given back to the pool and the temporary files of a multipart request's
        uploads closed (and deleted) once it is answered.

        Past the budget the request is cancelled where it waits (a transaction it holds
        rolls back) and answered TIME_BUDGET_EXCEEDED, 503: a slow request must not hold a
        connection and a share of the process without end. What runs without waiting (the
        parse and the validation) is bounded by the query limits instead
        (app/query_limits.py)."""
        try:
            async with asyncio.timeout(self._time_budget):
                return await super().run(request, context, root_value)
        except TimeoutError:
            request_id = request.scope.get("request_id") or uuid.uuid4().hex
            log.warning("request %s: stopped after its %s s budget", request_id, self._time_budget)
            message = f"The request took longer than its {self._time_budget:g} s budget."
            headers = {"Retry-After": self._retry_after}
            return error_response(503, TIME_BUDGET_EXCEEDED, message, request_id, headers)
        finally:
            made: Context | None = request.scope.pop(_CONTEXT_KEY, None)
            if made is not None:
                await made.db.give_back()
            if isinstance(request, Request):
                await request.close()

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        """A multipart body is one a cross-site form can post (with the session cookie):
        refused (400) unless it carries a header only a CORS-preflighted request can."""
        if not is_preflighted(request.headers):
            raise HTTPException(
                400,
                "A multipart request needs an X-CSRF-Protection or Apollo-Require-Preflight "
                "header.",
            )
        try:
            return await super().parse_multipart(request)
        except (AttributeError, TypeError, ValueError, IndexError):
            # Strawberry follows `map` into `operations` trusting both shapes.
            raise HTTPException(
                400, "The multipart request's map does not fit its operations and files."
            ) from None

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Any
    ) -> Response:
        """Strawberry's, answered with 503 and Retry-After when a dependency's outage failed
        part of it (app/outages.py): HTTP clients and proxies know to try it again later."""
        response = super().create_response(response_data, sub_response)
        if reports_outage(response_data):
            response.status_code = 503
            response.headers["Retry-After"] = self._retry_after
        return response

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(GRAPHIQL_PAGE)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """Bodies and GET variables: bounded in depth, and (orjson) refusing lone surrogates,
        which no text column could store. Strawberry answers 400 to a JSONDecodeError."""
        try:
            value = load_bounded_json(data, self._max_json_depth)
        except JSONTooDeep as error:
            raise json.JSONDecodeError(str(error), "", 0) from None
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
        return value


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


def error_response(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str]
) -> Response:
    """A failure's answer in JSON like every GraphQL error, with the request id to quote."""
    error = {"message": message, "extensions": {"code": code, "requestId": request_id}}
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers)


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
        )
        redis: ArqRedis = await create_arq_pool(RedisSettings.from_dsn(settings.redis_url))
        reference = ReferenceCache(settings.database_url)
        await reference.start()

        async def hand_to_workers(email_ids: list[int]) -> None:
            try:
                await enqueue_emails(redis, email_ids)
                EMAILS_ENQUEUED.inc(len(email_ids))
            except Exception as error:
                # Committed emails are never lost: the workers' relay picks them up later.
                # The mutation committed, so it answers its success even with Redis down.
                log_failure(log, error, "could not enqueue emails %s; the relay will", email_ids)

        app.state.services = AppServices(
            pool=pool,
            redis=redis,
            enqueue_emails=hand_to_workers,
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
            attachments_dir=settings.attachments_dir,
            max_upload_bytes=settings.max_upload_bytes,
            enqueue_automation_run=functools.partial(enqueue_automation_run, redis),
            automation_wait_seconds=settings.automation_wait_seconds,
            reference=reference,
        )
        exempt_start_up_objects_from_collection()
        try:
            yield
        finally:
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
            Route("/inbound/email", inbound_email_endpoint(settings), methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/files/{id}", download_file, methods=["GET"]),
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
