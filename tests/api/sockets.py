"""Real API processes (uvicorn, as `clientdesk serve` runs them) and GraphQL WebSocket
subscribers of them, for the subscription tests and the benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from app.devservices import free_port

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


@dataclass
class ApiProcess:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def kill(self) -> None:
        """Dies at once, as a crash would: no shutdown, no clean-up."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Asks it to stop (SIGTERM), as a deployment does; `wait_stopped` waits for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self) -> None:
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def spawn_api(database_url: str, redis_url: str, cwd: Path, **env: str) -> ApiProcess:
    """One API process starting on a free port (`wait_until_up` waits for it)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PORT": str(port),
            "DB_POOL_MIN": "1",
            "LOG_LEVEL": "WARNING",
            **env,
        },
        cwd=cwd,
        stdout=subprocess.DEVNULL,
    )
    return ApiProcess(port, process)


def wait_until_up(api: ApiProcess) -> None:
    """Returns once `api` answers /readyz; RuntimeError if it ends or takes a minute."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.process.poll() is not None:
            raise RuntimeError(f"the API process ended with {api.process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{api.url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("the API process did not start in time")


@contextlib.contextmanager
def api_processes(
    count: int, database_url: str, redis_url: str, cwd: Path, **env: str
) -> Iterator[list[ApiProcess]]:
    """`count` API processes, up; stopped afterwards. They start (and stop) side by side,
    each one's imports and start-up overlapping the others' waits."""
    apis: list[ApiProcess] = []
    try:
        for _ in range(count):
            apis.append(spawn_api(database_url, redis_url, cwd, **env))
        for api in apis:
            wait_until_up(api)
        yield apis
    finally:
        for api in apis:
            api.stop()
        for api in apis:
            api.wait_stopped()


class Closed(Exception):
    """The server closed the socket: `code` and `reason`."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class Subscriber:
    """One WebSocket with one subscription on it (graphql-transport-ws, or legacy graphql-ws)."""

    def __init__(self, socket: ClientConnection, protocol: str) -> None:
        self.socket = socket
        self.protocol = protocol

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(orjson.dumps(message).decode())

    async def receive(self, wait: float = 10) -> dict[str, Any]:
        """The next message other than a keep-alive; Closed once the server closed."""
        while True:
            try:
                raw = await asyncio.wait_for(self.socket.recv(), wait)
            except Exception as error:
                if self.socket.close_code is not None:
                    raise Closed(self.socket.close_code, self.socket.close_reason or "") from error
                raise
            message: dict[str, Any] = orjson.loads(raw)
            if message["type"] == "ping":
                await self.send({"type": "pong"})
            elif message["type"] != "ka":
                return message

    async def next_event(self, wait: float = 10) -> dict[str, Any]:
        """The next result's data (its one root field); AssertionError for errors."""
        message = await self.receive(wait)
        assert message["type"] in ("next", "data"), message
        payload = message["payload"]
        assert not payload.get("errors"), payload
        (event,) = payload["data"].values()
        assert isinstance(event, dict)
        return event

    async def closed(self, wait: float = 10) -> Closed:
        """Waits for the server to close the socket; how it did."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            try:
                await self.receive(max(0.01, deadline - asyncio.get_running_loop().time()))
            except Closed as closed:
                return closed


async def open_socket(
    url: str,
    *,
    token: str | None = None,
    protocol: str = TRANSPORT_WS,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> Subscriber:
    """A socket past connection_init (acknowledged), authenticated by `token` if given."""
    socket = await connect(url, subprotocols=[protocol], additional_headers=headers, **options)  # type: ignore[list-item]
    subscriber = Subscriber(socket, protocol)
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await subscriber.send({"type": "connection_init", "payload": payload})
    ack = await subscriber.receive()
    assert ack["type"] == "connection_ack", ack
    return subscriber


async def start(
    subscriber: Subscriber, query: str, variables: dict[str, Any] | None = None
) -> None:
    kind = "subscribe" if subscriber.protocol == TRANSPORT_WS else "start"
    await subscriber.send(
        {"id": "1", "type": kind, "payload": {"query": query, "variables": variables or {}}}
    )


@contextlib.asynccontextmanager
async def subscribed(
    url: str, query: str, variables: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[Subscriber]:
    subscriber = await open_socket(url, **options)
    try:
        await start(subscriber, query, variables)
        yield subscriber
    finally:
        await subscriber.socket.close()
