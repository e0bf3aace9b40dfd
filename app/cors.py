"""CORS for the dashboards of `CORS_ORIGINS`: they may call the API from the browser with
credentials (the session cookie or an Authorization header); every other origin is refused.

Our own small middleware rather than Starlette's: that one sends
`Access-Control-Allow-Credentials` to every origin, and we want no CORS header at all in
what an unlisted origin receives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse

from resolvers.context import CSRF_HEADERS

ALLOWED_METHODS = ("GET", "POST")
# With the CSRF headers an upload (a multipart request) must carry.
ALLOWED_HEADERS = ("authorization", "content-type", "x-request-id", *CSRF_HEADERS)
EXPOSED_HEADERS = ("x-request-id",)
# How long a browser may reuse a preflight answer, in seconds.
PREFLIGHT_MAX_AGE = 600


class CORSMiddleware:
    def __init__(self, app: Any, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:  # not a cross-origin browser request
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, headers)(scope, receive, send)
            return

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.add_vary_header("Origin")
                if origin in self.origins:
                    response_headers.update(self._allowed(origin))
                    response_headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
            await send(message)

        # An unlisted origin's request still runs (a browser sends GET and simple POSTs
        # without asking), but the browser keeps the answer from the page.
        await self.app(scope, receive, send_with_cors)

    def _preflight(self, origin: str, headers: Headers) -> PlainTextResponse:
        """The answer to "may `origin` send this request?"."""
        asked_headers = {
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        }
        if (
            origin not in self.origins
            or headers["access-control-request-method"] not in ALLOWED_METHODS
            or not asked_headers <= set(ALLOWED_HEADERS)
        ):
            return PlainTextResponse("Disallowed CORS request.", 400, headers={"Vary": "Origin"})
        return PlainTextResponse(
            "OK",
            headers={
                **self._allowed(origin),
                "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
                "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE),
                "Vary": "Origin",
            },
        )

    @staticmethod
    def _allowed(origin: str) -> dict[str, str]:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true"}
