"""The GraphQL endpoint: Strawberry's ASGI view with the request's context, orjson, bounded
JSON, the offline GraphiQL page, a time budget per request, and 503 for an outage."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import replace
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.graphql import build_schema
from app.graphql_codes import (
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    RATE_LIMITED,
    TIME_BUDGET_EXCEEDED,
)
from app.http_negotiation import (
    GRAPHQL_RESPONSE,
    JSON,
    RequestRefused,
    is_request_error,
    response_media_type,
)
from app.outages import reports_outage
from app.persisted_queries import (
    NO_PERSISTED_QUERIES,
    AutomaticPersistedQueries,
    PersistedQueries,
    PersistedQueryList,
)
from app.request_limits import JSONTooDeep, load_bounded_json
from app.settings import Settings
from app.subscriptions import Sockets, TextFrames
from domain.auth.api_keys import is_api_key_secret
from resolvers.context import Context, is_preflighted

log = logging.getLogger("clientdesk.graphql_view")


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    headers: dict[str, str],
    media_type: str = JSON,
) -> Response:
    """A failure's answer in JSON like every GraphQL error, with the request id to quote."""
    error = {"message": message, "extensions": {"code": code, "requestId": request_id}}
    return JSONResponse(
        {"errors": [error]}, status_code=status, headers=headers, media_type=media_type
    )


GRAPHIQL_PAGE = (Path(__file__).parent / "static" / "graphiql.html").read_text()
# Where `GraphQLEndpoint.get_context` leaves the request's context in the ASGI scope.
_CONTEXT_KEY = "clientdesk.context"
# Where `on_ws_connect` leaves a socket's place among its viewer's and its guard.
_SOCKET_KEY = "clientdesk.socket"
# Operations one socket may run at once (Strawberry refuses more).
SUBSCRIPTIONS_PER_SOCKET = 20
# The type the request is answered with (app/http_negotiation.py), and whether its
# operation was refused before it ran.
_MEDIA_TYPE_KEY = "clientdesk.media_type"
_NOT_RUN_KEY = "clientdesk.not_run"


def _media_type(request: Any) -> str:
    media_type: str = request.scope.get(_MEDIA_TYPE_KEY, JSON)
    return media_type


class GraphQLEndpoint(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, JSON encoder and offline GraphiQL, and 503
    for an outage."""

    websocket_adapter_class = TextFrames

    def __init__(self, services_of: Any, settings: Settings) -> None:
        self._sockets = Sockets(
            per_process=settings.max_sockets_per_process,
            per_viewer=settings.max_sockets_per_viewer,
            recheck_seconds=settings.socket_recheck_seconds,
        )
        self._max_json_depth = settings.max_json_depth
        self._retry_after = str(settings.outage_retry_after_seconds)
        self._time_budget = settings.request_time_budget_seconds
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
            # Uploads (uploadClientFile), each with a CSRF header: see `parse_multipart`.
            multipart_uploads_enabled=True,
            # Subscriptions: a browser page may open one (with its cookie) only from the API's
            # own origin or one of CORS_ORIGINS; others are refused at the handshake.
            allowed_origins=settings.cors_origin_list,
            connection_init_wait_timeout=timedelta(seconds=settings.socket_init_timeout_seconds),
            keep_alive=True,  # the legacy graphql-ws protocol's "ka" messages
            keep_alive_interval=settings.socket_ping_interval_seconds,
            max_subscriptions_per_connection=SUBSCRIPTIONS_PER_SOCKET,
        )
        self._services_of = services_of
        self._allow_list = (
            PersistedQueryList.read(settings.persisted_queries_manifest)
            if settings.persisted_queries_manifest
            else None
        )
        self._apq = settings.automatic_persisted_queries
        self._apq_ttl = settings.persisted_query_ttl_seconds
        self._apq_max_bytes = settings.persisted_query_max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Strawberry's, but a request it refuses before any GraphQL runs (unreadable JSON,
        no query, a batch, a mutation over GET, an upload without its CSRF header) is
        answered like every GraphQL error, not with a text/plain body; and in the JSON the
        request's Accept asks for (app/http_negotiation.py), 406 when it accepts none."""
        if scope["type"] == "websocket":
            if self._sockets.full:
                # Closed before it is accepted: the handshake is answered 403.
                await send({"type": "websocket.close", "code": 1013})
                return
            with self._sockets.opened():
                await super().__call__(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        accepted = response_media_type(request.headers.get("accept"))
        media_type = scope[_MEDIA_TYPE_KEY] = accepted or JSON
        try:
            if accepted is None and not self.should_render_graphql_ide(request):
                raise RequestRefused(
                    406, NOT_ACCEPTABLE, f"This endpoint answers with {GRAPHQL_RESPONSE} or {JSON}."
                )
            response = await self.run(request)
        except RequestRefused as refused:
            response = error_response(
                refused.status_for(media_type),
                refused.code,
                refused.message,
                scope.get("request_id", ""),
                refused.headers,
                media_type,
            )
        except HTTPException as refused:
            code = HTTPStatus(refused.status_code).name  # BAD_REQUEST, NOT_FOUND…
            response = error_response(
                refused.status_code,
                code,
                refused.reason,
                scope.get("request_id", ""),
                {},
                media_type,
            )
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        context = Context(
            request=request,  # type: ignore[arg-type]
            response=response,
            services=self._services_of(request),
            request_id=request.scope.get("request_id") or uuid.uuid4().hex,
        )
        request.scope[_CONTEXT_KEY] = context  # for `run` to give its connection back
        if isinstance(request, Request):  # an HTTP request, not a WebSocket
            await self._count_api_key_request(context)
        else:
            context.close_connection = self._sockets.closer(request)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A socket's connection_init: authenticated (its payload's `authorization`, else the
        session cookie) and counted against its viewer's sockets; then guarded while it lives
        (`Sockets.guard`)."""
        viewer = await context.get_viewer()
        if viewer is None or await context.second_factor_missing():
            raise ConnectionRejectionError({"message": "Log in first."})
        admitted = self._sockets.admit(viewer)
        if admitted is None:
            raise ConnectionRejectionError({"message": "Too many sockets open for this viewer."})
        hub = context.services.subscriptions.hub
        guard = asyncio.create_task(self._sockets.guard(context, hub, viewer))
        context.request.scope[_SOCKET_KEY] = (admitted, guard)
        return UnsetType()  # acknowledged without a payload

    async def _run_socket(self, request: WebSocket, context: Any, root_value: Any) -> Any:
        """A WebSocket lives as long as its peer wants: no time budget. Its guard and its
        place among its viewer's sockets end with it."""
        try:
            return await super().run(request, context, root_value)
        finally:
            admitted, guard = request.scope.pop(_SOCKET_KEY, (None, None))
            if guard is not None:
                guard.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await guard
                self._sockets.release(admitted)

    @staticmethod
    async def _count_api_key_request(context: Context) -> None:
        """Count a live API key's request against its limit (SPEC 11.3); refused with 429 past it.
        Only a key's requests look the viewer up this early."""
        if not is_api_key_secret(context.session_token() or ""):
            return
        viewer = await context.get_viewer()
        if viewer is not None and viewer.api_key_id is not None:
            wait = await context.services.api_key_rate_limit.wait_before(viewer.api_key_id)
            if wait is not None:
                raise RequestRefused(
                    429,
                    RATE_LIMITED,
                    f"This API key made too many requests. Try again in {wait} s.",
                    {"Retry-After": str(wait)},
                )

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Strawberry's within the request's time budget, then the request's database
        connection given back to the pool and the temporary files of a multipart request's
        uploads closed (and deleted) once it is answered.

        Past the budget the request is cancelled where it waits (a transaction it holds
        rolls back) and answered TIME_BUDGET_EXCEEDED, 503: a slow request must not hold a
        connection and a share of the process without end. What runs without waiting (the
        parse and the validation) is bounded by the query limits instead
        (app/query_limits.py)."""
        if self.is_websocket_request(request):
            return await self._run_socket(request, context, root_value)
        try:
            async with asyncio.timeout(self._time_budget):
                response = await super().run(request, context, root_value)
            if _media_type(request) == GRAPHQL_RESPONSE and response.media_type == JSON:
                # Strawberry's answer (not GraphiQL's page), with the spec's type and status.
                response.headers["content-type"] = GRAPHQL_RESPONSE
                if request.scope.get(_NOT_RUN_KEY) and response.status_code == 200:
                    response.status_code = 400
            return response
        except TimeoutError:
            request_id = request.scope.get("request_id") or uuid.uuid4().hex
            log.warning("request %s: stopped after its %s s budget", request_id, self._time_budget)
            message = f"The request took longer than its {self._time_budget:g} s budget."
            headers = {"Retry-After": self._retry_after}
            return error_response(
                503, TIME_BUDGET_EXCEEDED, message, request_id, headers, _media_type(request)
            )
        finally:
            made: Context | None = request.scope.pop(_CONTEXT_KEY, None)
            if made is not None:
                await made.db.give_back()
            if isinstance(request, Request):
                await request.close()

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, with the document of a persisted query (kept once it ran), and a
        mutation over GET refused with 405 and `Allow: POST`."""
        lookup = await self._persisted_queries(request).lookup(
            request_data.query, request_data.extensions
        )
        try:
            result = await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=replace(request_data, query=lookup.query),
            )
        except HTTPException as refused:
            if isinstance(refused.__cause__, InvalidOperationTypeError):
                raise RequestRefused(
                    405, METHOD_NOT_ALLOWED, refused.reason, {"Allow": "POST"}
                ) from None
            raise
        if lookup.keep is not None and not is_request_error(result):
            await lookup.keep()
        return result

    def _persisted_queries(self, request: Any) -> PersistedQueries:
        if self._allow_list is not None:
            return self._allow_list
        if not self._apq:
            return NO_PERSISTED_QUERIES
        return AutomaticPersistedQueries(
            self._services_of(request).redis,
            ttl_seconds=self._apq_ttl,
            max_bytes=self._apq_max_bytes,
        )

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Strawberry's; an operation refused before it ran is noted for the status, and
        has no `data` in the spec's answer (the GraphQL spec's request error)."""
        processed = await super().process_result(request, result)
        if is_request_error(result):
            request.scope[_NOT_RUN_KEY] = True
            if _media_type(request) == GRAPHQL_RESPONSE:
                processed.pop("data", None)
        return processed

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

    def should_render_graphql_ide(self, request: Any) -> bool:
        """Strawberry's (a GET without a query, from a browser), but not a persisted query's
        GET, which has no query either."""
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

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
