"""Bounds on what a request may make the API read: body size and JSON nesting depth.

Without them one anonymous request (a 100 MB body, a 100,000-deep JSON array) costs the
process memory or a recursion error, and a few at once take it down.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class JSONTooDeep(ValueError):
    pass


class BodyLimitMiddleware:
    """Answers 413 to a body larger than its limit: at once when Content-Length says so,
    otherwise as soon as the streamed body passes the limit (never buffering more of it).
    Multipart bodies (uploads) have a limit of their own."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        is_upload = headers.get("content-type", "").lower().startswith("multipart/")
        limit = self.max_upload_bytes if is_upload else self.max_bytes
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, limit, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if response_started:
                raise
            await _too_large(scope, limit, send)


async def _too_large(scope: Scope, limit: int, send: Send) -> None:
    response = JSONResponse(
        {
            "errors": [
                {
                    "message": f"The request body is larger than {limit} bytes.",
                    "extensions": {
                        "code": "PAYLOAD_TOO_LARGE",
                        "requestId": scope.get("request_id"),
                    },
                }
            ]
        },
        status_code=413,
        headers={"Connection": "close"},
    )
    await response(scope, _nothing_to_receive, send)


async def _nothing_to_receive() -> Message:
    return {"type": "http.disconnect"}


def load_bounded_json(data: str | bytes, max_depth: int) -> Any:
    """Parse JSON, refusing documents nested deeper than `max_depth` (JSONTooDeep)."""
    value = orjson.loads(data)
    # Walked with an explicit stack: the check must not itself recurse once per level.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels")
                stack.append((child, depth + 1))
    return value
