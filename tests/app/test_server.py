"""The API under a real uvicorn server: forwarded headers and slow clients (issue 6)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import uvicorn
from redis.asyncio import Redis
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from app.devservices import free_port
from app.server import server_config
from app.settings import Settings
from app.web import create_app
from domain.auth import sessions
from tests.conftest import LOGIN

PROTOCOL = Subprotocol("graphql-transport-ws")


@contextmanager
def running_server(settings: Settings, **changes: Any) -> Iterator[tuple[str, int]]:
    """The app served by uvicorn, configured as `clientdesk serve` does, in a thread."""
    settings = settings.model_copy(update={"port": free_port(), **changes})
    server = uvicorn.Server(server_config(settings, create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield settings.host, settings.port
    finally:
        server.should_exit = True
        thread.join(timeout=15)


async def counted_addresses(settings: Settings) -> list[str]:
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = await redis.keys("login-failures:address:*")
    finally:
        await redis.aclose()
    return sorted(k.decode().rsplit(":", 1)[1] for k in keys)


async def failed_login(host: str, port: int, forwarded_for: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
        response = await client.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"email": "x@example.com", "password": "wrong-pw"}},
            headers={"X-Forwarded-For": forwarded_for},
        )
    assert response.status_code == 200, response.text


async def test_forwarded_for_from_an_untrusted_peer_does_not_change_the_login_address(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    # By default no proxy is trusted: a made-up header must not buy a fresh address budget.
    with running_server(settings) as (host, port):
        await failed_login(host, port, "203.0.113.7")
    assert await counted_addresses(settings) == ["127.0.0.1"]


async def test_forwarded_for_from_a_listed_proxy_is_the_login_address(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    with running_server(settings, forwarded_allow_ips="127.0.0.1") as (host, port):
        await failed_login(host, port, "203.0.113.7")
    assert await counted_addresses(settings) == ["203.0.113.7"]


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes `sock` (without answering a full response) within seconds."""
    sock.settimeout(within)
    try:
        while data := sock.recv(4096):
            if data.startswith(b"HTTP/1.1 2"):
                return False
        return True
    except TimeoutError:
        return False


def test_a_request_that_trickles_in_is_closed_after_the_request_timeout(
    settings: Settings,
) -> None:
    with running_server(settings, http_request_timeout=0.5) as address:
        with socket.create_connection(address) as headers_only:
            headers_only.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            assert closed_by_server(headers_only, within=10)
            assert time.monotonic() - started > 0.4
        with socket.create_connection(address) as partial_body:
            partial_body.sendall(
                b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
            assert closed_by_server(partial_body, within=10)
        # A request that arrives in time is served, also after an earlier one on the connection.
        with httpx.Client(base_url=f"http://{address[0]}:{address[1]}") as client:
            assert client.get("/healthz").text == "ok"
            time.sleep(0.7)  # longer than the timeout, shorter than the keep-alive
            assert client.get("/healthz").text == "ok"


def test_connections_beyond_the_concurrency_limit_are_refused(settings: Settings) -> None:
    with running_server(settings, http_limit_concurrency=2) as address:
        held = [socket.create_connection(address) for _ in range(2)]
        try:
            for sock in held:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            time.sleep(0.2)
            response = httpx.get(f"http://{address[0]}:{address[1]}/healthz")
            assert response.status_code == 503
        finally:
            for sock in held:
                sock.close()


def test_request_headers_that_grow_past_the_limit_are_refused(settings: Settings) -> None:
    with (
        running_server(settings, http_max_header_bytes=4096) as address,
        socket.create_connection(address) as sock,
    ):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000)
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 4")


async def test_a_websocket_outlives_the_request_timeout(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('socket@staff.ex.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) "
        "VALUES ($1, 'Sam', 'Staff', 'ADMIN')",
        login_id,
    )
    token = await sessions.start_session(conn, login_id, ttl=timedelta(hours=1))
    init = json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    # The request's clock is the HTTP protocol's; an upgraded socket is the WebSocket
    # protocol's, bounded by its pings, and must not be cut when that clock would ring.
    with (
        running_server(settings, http_request_timeout=0.5) as (host, port),
        ws_connect(f"ws://{host}:{port}/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        ws.send(init)
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        await asyncio.sleep(1.2)
        ws.send('{"type": "ping"}')
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"
