"""The WebSockets of one API process: their limits, and a guard on each that closes it when
its viewer may no longer read (a logout, an expired session, a disabled staff member, a
revoked key, a changed role or grant).

A guard looks its viewer up again whenever PostgreSQL announces an access change of its
login (domain/events/hub.py), and at least every `recheck_seconds` (an expiry announces
nothing). Each event is then checked against the viewer as it is now
(resolvers/subscriptions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping

from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected

from domain.auth.viewer import Viewer
from domain.events.hub import EventHub
from resolvers.context import ACCESS_ENDED, Context

log = logging.getLogger(__name__)


class TextFrames(ASGIWebSocketAdapter):
    """Strawberry's socket, sending each message as a text frame: our JSON encoder gives
    bytes, which Strawberry would send as binary frames, and a browser's client (GraphiQL's
    graphql-ws) reads text frames only."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        try:
            await self.ws.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)
        except WebSocketDisconnect as ended:
            raise WebSocketDisconnected from ended


def viewer_key(viewer: Viewer) -> str:
    """Whose sockets count together: an API key's own, else its login's."""
    return (
        f"key:{viewer.api_key_id}" if viewer.api_key_id is not None else f"login:{viewer.login_id}"
    )


class Sockets:
    def __init__(self, *, per_process: int, per_viewer: int, recheck_seconds: float) -> None:
        self._per_process = per_process
        self._per_viewer = per_viewer
        self._recheck_seconds = recheck_seconds
        self.open = 0
        self._of_viewer: Counter[str] = Counter()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def full(self) -> bool:
        return self.open >= self._per_process

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1

    def admit(self, viewer: Viewer) -> str | None:
        """Count one more socket of the viewer's, if it may open one: its key, to `release`."""
        key = viewer_key(viewer)
        if self._of_viewer[key] >= self._per_viewer:
            return None
        self._of_viewer[key] += 1
        return key

    def release(self, key: str) -> None:
        self._of_viewer[key] -= 1
        if not self._of_viewer[key]:
            del self._of_viewer[key]

    def closer(self, websocket: WebSocket) -> Callable[[tuple[int, str]], None]:
        """What closes `websocket` with a (code, reason), from any task, without waiting."""

        def close(reason: tuple[int, str]) -> None:
            task = asyncio.create_task(self._close(websocket, *reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

        return close

    @staticmethod
    async def _close(websocket: WebSocket, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # already closed by the peer or by us
            await websocket.close(code, reason)

    async def guard(self, context: Context, hub: EventHub, viewer: Viewer) -> None:
        """Until cancelled (the socket ended): check the viewer again on each access change
        and periodically; close the socket once it may read nothing more."""
        changed = asyncio.Event()
        with hub.watch_access(viewer.login_id, changed.set):
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self._recheck_seconds)
                changed.clear()
                context.forget_viewer()
                try:
                    current = await context.get_viewer()
                    ended = current is None or await context.second_factor_missing()
                except Exception as error:  # an outage: the next check tries again
                    log.warning(
                        "socket %s: could not check its viewer (%s)", context.request_id, error
                    )
                    continue
                if ended:
                    assert context.close_connection is not None
                    context.close_connection(ACCESS_ENDED)
                    return
