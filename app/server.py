"""Serving the API with uvicorn, with the limits a public server needs.

uvicorn closes idle keep-alive connections but gives a client unlimited time to send a
request: a client trickling a byte every few seconds holds its connection forever, and a
few hundred of them exhaust the server. `RequestTimeoutProtocol` closes a connection whose
request (headers and body) is not complete within `HTTP_REQUEST_TIMEOUT` seconds. A reverse
proxy with header and body timeouts in front is still the production shape (README).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import asyncpg
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.supervisors import Multiprocess

from app.persisted_queries import PersistedQueryList
from app.settings import Settings
from app.supervisor import stop_with
from app.tracing import missing_tracing_packages

APP_FACTORY = "app.main:create_app_from_env"


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus the request timeout (pickled to worker processes)."""

    def __init__(self, app: Any, *, request_timeout: float, **options: Any) -> None:
        super().__init__(app, http=RequestTimeoutProtocol, **options)
        self.request_timeout = request_timeout
        # The pid of `serve --workers N`'s parent, which each worker process stops with.
        self.supervisor_pid: int | None = None

    def load(self) -> None:
        # Each worker process loads the app first: a parent killed without a chance to stop
        # its workers (SIGKILL, a crash) must not leave them serving as orphans.
        if self.supervisor_pid is not None:
            stop = stop_with(self.supervisor_pid)
            if stop is not None:
                stop()
        super().load()


class RequestTimeoutProtocol(H11Protocol):
    """h11 (its incomplete-event size limit bounds headers) with a deadline per request.

    The clock starts when the connection opens, and again when a response completes (for
    the next request on a kept-alive connection); it stops once a request's body is complete.
    """

    config: ServerConfig
    _deadline: asyncio.TimerHandle | None = None
    _awaited: RequestResponseCycle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and cycle is not self._awaited and not cycle.more_body:
            self._stop_clock()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: Any) -> None:
        # The transport is the WebSocket protocol's from here, bounded by its pings: the
        # request's clock, left running, would cut the socket when it rang.
        self._stop_clock()
        super().handle_websocket_upgrade(event)

    def _await_request(self) -> None:
        self._stop_clock()
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a pipelined request already arrived; its response restarts the clock
        self._awaited = self.cycle  # the request already served, if any
        self._deadline = self.loop.call_later(self.config.request_timeout, self._too_slow)

    def _stop_clock(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request took too long to arrive")
            self.transport.close()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def server_config(
    settings: Settings, app: Any = APP_FACTORY, *, workers: int = 1, **options: Any
) -> ServerConfig:
    """The uvicorn configuration of an installation, from its settings."""
    return ServerConfig(
        app,
        factory=isinstance(app, str),
        host=settings.host,
        port=settings.port,
        workers=workers,
        # Forwarded headers are believed only from the listed proxies: from anyone else, a
        # made-up X-Forwarded-For would be a fresh per-address login budget.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips,
        limit_concurrency=settings.http_limit_concurrency,
        timeout_keep_alive=settings.http_keepalive_timeout,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        request_timeout=settings.http_request_timeout,
        ws_ping_interval=settings.socket_ping_interval_seconds,
        ws_ping_timeout=settings.socket_ping_timeout_seconds,
        log_config=None,  # each process logs through app.logs, with request ids
        access_log=False,  # the request middleware writes the access line
        **options,
    )


def startup_problem(settings: Settings) -> str | None:
    """What would stop every API process from starting, said in one line; None if nothing.

    Checked once before any process starts: a process that fails to start logs a
    traceback, and uvicorn's parent starts again (for ever) one that fails while loading."""
    missing = missing_tracing_packages(settings)
    if missing:
        return (
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the tracing packages are not installed "
            f"(pip install 'clientdesk[otel]'): {missing}"
        )
    if settings.persisted_queries_manifest is not None:
        try:
            PersistedQueryList.read(settings.persisted_queries_manifest)
        except (OSError, ValueError, KeyError, TypeError) as error:
            return f"PERSISTED_QUERIES_MANIFEST cannot be read: {type(error).__name__}: {error}"

    async def connect() -> None:
        conn = await asyncpg.connect(settings.database_url, timeout=10)
        await conn.close()

    try:
        asyncio.run(connect())
    except Exception as error:  # refused, timed out, wrong password, no such database…
        return f"cannot connect to the database (DATABASE_URL): {type(error).__name__}: {error}"
    return None


def serve(config: ServerConfig) -> bool:
    """Run the server in this process, or in `config.workers` processes, until stopped.

    False when it could not start (the port is taken, the database is unreachable…).
    """
    if config.workers > 1:
        config.supervisor_pid = os.getpid()
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.run()
        # uvicorn's parent stops when a process fails to start, and says nothing of it.
        return all(p.exitcode != STARTUP_FAILURE for p in supervisor.processes)
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return server.started
