"""The subscriber side of `bench.subscriptions`: many graphql-transport-ws sockets held by
one process of its own, so that its CPU and its event loop's lag are measured apart from
the writer's and the page load's.

The parent sends "stop" down the pipe when it is done; the process then closes its sockets
and sends back what it received: (event id, monotonic time) per delivered event, its loop's
lag samples and the errors it met. `time.monotonic` is one clock for every process of the
machine (CLOCK_MONOTONIC), so the parent sets these times beside its commit times.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

from schema.ids import global_id

PROTOCOL = Subprotocol("graphql-transport-ws")
# How often the loop's lag is sampled: a sleep of this long that wakes late, by the lag.
TICK_SECONDS = 0.02
# Sockets opening at once: a thousand handshakes together would only queue in the servers.
OPENING_AT_ONCE = 50
CONNECT_SECONDS = 60


@dataclass(frozen=True)
class Spec:
    """One subscription: which server, what document, and the field its events come in."""

    url: str
    document: str
    variables: dict[str, Any]
    field: str
    client: int | None  # whose events; None: every client's


@dataclass
class Received:
    deliveries: list[tuple[int, float]] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Extensions the servers accepted (permessage-deflate or none), once per socket.
    extensions: set[str] = field(default_factory=set)


EVENT_FIELDS = "id kind at clientId"
DOCUMENTS = {
    field_name: f"subscription($c: ID) {{ {field_name}(clientId: $c) {{ {EVENT_FIELDS} }} }}"
    for field_name in ("clientEvents", "invoiceEvents")
}
DOCUMENTS["emailEvents"] = f"subscription {{ emailEvents {{ {EVENT_FIELDS} }} }}"


def specs(urls: list[str], subscribed: list[int], count: int) -> list[Spec]:
    """Nine in ten of `count` on clients' events (each client's clientEvents and invoiceEvents
    on both processes), one in ten on every email, half of each on each process."""
    out = []
    for n in range(count):
        if n % 10 == 9:
            out.append(Spec(urls[n % 2], DOCUMENTS["emailEvents"], {}, "emailEvents", None))
            continue
        j = n - n // 10
        name = "clientEvents" if j % 2 == 0 else "invoiceEvents"
        client = subscribed[(j // 4) % len(subscribed)]
        variables = {"c": global_id("Client", client)}
        out.append(Spec(urls[(j // 2) % 2], DOCUMENTS[name], variables, name, client))
    return out


def run(pipe: Connection, specs: list[Spec], token: str) -> None:
    """The process's entry point (multiprocessing, spawned)."""
    asyncio.run(_hold(pipe, specs, token))


async def _hold(pipe: Connection, specs: list[Spec], token: str) -> None:
    received = Received()
    ticker = asyncio.create_task(_sample_lag(received))
    opening = asyncio.Semaphore(OPENING_AT_ONCE)
    opened: list[ClientConnection] = []
    ready = 0
    all_ready = asyncio.Event()

    def one_ready() -> None:
        nonlocal ready
        ready += 1
        if ready == len(specs):
            all_ready.set()

    async def subscribe(spec: Spec) -> None:
        try:
            async with opening:
                ws = await _open(spec, token, received)
            opened.append(ws)
        except (OSError, WebSocketException, TimeoutError, RuntimeError) as error:
            received.errors.append(f"{spec.url}: {type(error).__name__}: {error}")
            one_ready()
            return
        one_ready()
        await _read(ws, spec, received)

    tasks = [asyncio.create_task(subscribe(spec)) for spec in specs]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_ready.wait(), CONNECT_SECONDS)
    pipe.send(("connected", len(opened), received.errors[:5]))
    await asyncio.to_thread(pipe.recv)  # "stop"
    for task in tasks:
        task.cancel()
    ticker.cancel()
    for ws in opened:
        with contextlib.suppress(Exception):
            await ws.close()
    pipe.send(
        ("done", received.deliveries, received.lags, received.errors, sorted(received.extensions))
    )


async def _open(spec: Spec, token: str, received: Received) -> ClientConnection:
    """A socket past connection_ack with its subscription sent."""
    # The servers ping (socket_ping_interval_seconds); the client answers and sends none.
    ws = await connect(spec.url, subprotocols=[PROTOCOL], ping_interval=None, open_timeout=30)
    if ws.response is not None:
        received.extensions.add(ws.response.headers.get("Sec-WebSocket-Extensions", "none"))
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await ws.send(orjson.dumps(init).decode())
    ack = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
    if ack.get("type") != "connection_ack":
        await ws.close()
        raise RuntimeError(f"no connection_ack: {ack}")
    payload = {"query": spec.document, "variables": spec.variables}
    await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
    return ws


async def _read(ws: ClientConnection, spec: Spec, received: Received) -> None:
    try:
        async for message in ws:
            at = time.monotonic()
            data = orjson.loads(message)
            kind = data.get("type")
            if kind == "next":
                event = (data["payload"].get("data") or {}).get(spec.field)
                if event is None:
                    received.errors.append(f"next without data: {data}")
                    continue
                received.deliveries.append((int(event["id"]), at))
            elif kind == "ping":
                await ws.send('{"type":"pong"}')
            elif kind in ("error", "complete"):
                received.errors.append(f"{kind}: {data}")
                return
    except WebSocketException as error:
        received.errors.append(f"closed: {error}")


async def _sample_lag(received: Received) -> None:
    while True:
        started = time.monotonic()
        await asyncio.sleep(TICK_SECONDS)
        woke = time.monotonic()
        received.lags.append((woke, woke - started - TICK_SECONDS))
