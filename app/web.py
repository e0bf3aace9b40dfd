"""The Starlette application: GraphQL, GraphiQL, health, readiness and metrics."""

from __future__ import annotations

import contextlib
import logging
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
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app.db import create_pool
from app.graphql import build_schema
from app.metrics import EMAILS_ENQUEUED, MetricsMiddleware, metrics_endpoint
from app.settings import Settings
from domain.auth.throttle import LoginThrottle
from domain.emails.templates import TemplateRenderer
from resolvers.context import AppServices, Context
from workers.email import enqueue_emails

log = logging.getLogger("clientdesk.web")

# What a caller's X-Request-ID may be to be kept: safe in logs and headers; UUIDs included.
USABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

GRAPHIQL_PAGE = (Path(__file__).parent / "static" / "graphiql.html").read_text()
GRAPHIQL_ASSETS = (
    files("graphene_django_graphiql_static") / "static" / "graphene_django_graphiql_static"
)


class GraphQLEndpoint(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, JSON encoder and offline GraphiQL."""

    def __init__(self, services_of: Any, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
            multipart_uploads_enabled=False,
        )
        self._services_of = services_of

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(
            request=request,  # type: ignore[arg-type]
            response=response,
            services=self._services_of(request),
            request_id=request.scope.get("request_id") or uuid.uuid4().hex,
        )

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(GRAPHIQL_PAGE)

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)


class RequestIdMiddleware:
    """Gives each request an id (or keeps the caller's X-Request-ID) and echoes it back."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if USABLE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope["request_id"] = request_id

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        redis: ArqRedis = await create_arq_pool(RedisSettings.from_dsn(settings.redis_url))

        async def hand_to_workers(email_ids: list[int]) -> None:
            try:
                await enqueue_emails(redis, email_ids)
                EMAILS_ENQUEUED.inc(len(email_ids))
            except Exception:
                # Committed emails are never lost: the workers' relay picks them up later.
                log.exception("could not enqueue emails %s; the relay will", email_ids)

        app.state.services = AppServices(
            pool=pool,
            redis=redis,
            enqueue_emails=hand_to_workers,
            throttle=LoginThrottle(
                redis,
                max_failures=settings.login_max_failures,
                cooldown_seconds=settings.login_cooldown_seconds,
            ),
            session_ttl=timedelta(hours=settings.session_ttl_hours),
            public_url=settings.base_url,
            secure_cookies=settings.base_url.startswith("https://"),
            renderer=TemplateRenderer(settings.email_templates_dir),
            card_keyring=settings.card_keyring(),
            card_secret=settings.cc_encryption_hash,
        )
        try:
            yield
        finally:
            await redis.aclose()
            await pool.close()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        services: AppServices = request.app.state.services
        checks: dict[str, str] = {}
        try:
            async with services.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"error: {type(exc).__name__}"
        try:
            await services.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(checks, status_code=200 if ready else 503)

    graphql = GraphQLEndpoint(lambda request: request.app.state.services, settings)
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Mount("/static/graphiql", StaticFiles(directory=str(GRAPHIQL_ASSETS))),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app
