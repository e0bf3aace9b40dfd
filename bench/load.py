"""The load every HTTP benchmark here is measured under: a bounded asyncio generator,
`concurrency` keep-alive connections per endpoint, each sending its next request when the
last is answered, in rounds alternating between the endpoints so that drift in the machine
hits each alike; each round adds to the endpoint's Totals (requests, latencies, the CPU of
its server, of PostgreSQL and of the generator itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import psutil

from bench.harness import Server, Totals, console, db_cpu_seconds


@dataclass(frozen=True)
class Request:
    """What the load sends one endpoint, and the length of the answer that counts as right."""

    body: bytes
    headers: dict[str, str]
    expected_length: int


class KeepAliveConnection:
    """One keep-alive HTTP/1.1 connection that sends the same pre-encoded request again and
    again: a load generator costing tens of µs of CPU per request, so that on a small
    machine the servers, not the client, are what is measured (see README.md)."""

    def __init__(self, server: Server, request: bytes, expected_length: int) -> None:
        url = httpx.URL(server.url)
        self._host, self._port = url.host, url.port
        self._request = request
        self._expected_length = expected_length
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @staticmethod
    def encode_request(server: Server, body: bytes, headers: dict[str, str]) -> bytes:
        url = httpx.URL(server.url)
        lines = [f"POST {url.raw_path.decode()} HTTP/1.1", f"Host: {url.host}:{url.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self) -> bool:
        """True when the answer is a 200 with a body of the expected length."""
        reused = self._writer is not None
        try:
            return await self._exchange()
        except (OSError, asyncio.IncompleteReadError) as error:
            await self.close()
            # The server closed a keep-alive connection that sat idle (uvicorn's keep-alive
            # timeout is shorter than a round of the other endpoint): send again on a new one.
            if not reused or getattr(error, "partial", b"") != b"":
                await asyncio.sleep(0.01)
                return False
        try:
            return await self._exchange()
        except (OSError, asyncio.IncompleteReadError):
            await self.close()
            await asyncio.sleep(0.01)
            return False

    async def _exchange(self) -> bool:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self._writer.write(self._request)
        try:
            head = (await self._reader.readuntil(b"\r\n\r\n")).lower()
            start = head.index(b"\r\ncontent-length:") + len(b"\r\ncontent-length:")
            length = int(head[start : head.index(b"\r\n", start)])
        except (ValueError, asyncio.LimitOverrunError):  # not an answer this client reads
            await self.close()
            return False
        await self._reader.readexactly(length)
        if b"\r\nconnection: close" in head:
            await self.close()
        return head[9:12] == b"200" and length == self._expected_length

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


Send = Callable[[], Awaitable[bool]]


async def open_senders(
    stack: contextlib.AsyncExitStack,
    kind: str,
    server: Server,
    request: Request,
    *,
    concurrency: int,
) -> list[Send]:
    """`concurrency` callables, each sending the request over its own connection."""
    if kind == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=60))

        async def send() -> bool:
            try:
                response = await client.post(
                    server.url, content=request.body, headers=request.headers
                )
            except httpx.HTTPError:
                await asyncio.sleep(0.01)
                return False
            return response.status_code == 200 and len(response.content) == request.expected_length

        return [send] * concurrency
    encoded = KeepAliveConnection.encode_request(server, request.body, request.headers)
    connections = [
        KeepAliveConnection(server, encoded, request.expected_length) for _ in range(concurrency)
    ]
    for connection in connections:
        stack.push_async_callback(connection.close)
    return [connection.send for connection in connections]


async def load_round(
    senders: list[Send],
    server: Server,
    *,
    seconds: float,
    totals: Totals | None,
    postmaster: psutil.Process | None,
) -> None:
    """Each sender sends a request as soon as its previous one is answered, until `seconds`
    have passed; the requests still running then are awaited and counted."""
    latencies: list[float] = []
    errors = 0
    clock = time.perf_counter
    stop_at = clock() + seconds

    async def user(send: Send) -> None:
        nonlocal errors
        while (started := clock()) < stop_at:
            ok = await send()
            latencies.append(clock() - started)
            errors += not ok

    cpu = (time.process_time(), server.cpu_seconds(), db_cpu_seconds(postmaster))
    began = clock()
    await asyncio.gather(*(user(send) for send in senders))
    elapsed = clock() - began
    if totals is not None:
        totals.requests += len(latencies)
        totals.errors += errors
        totals.seconds += elapsed
        totals.client_cpu += time.process_time() - cpu[0]
        totals.server_cpu += server.cpu_seconds() - cpu[1]
        totals.db_cpu += db_cpu_seconds(postmaster) - cpu[2]
        totals.latencies += latencies
        totals.rounds.append(len(latencies) / elapsed)


async def measure(
    servers: list[Server],
    args: argparse.Namespace,
    requests: dict[str, Request],
    postmaster: psutil.Process | None,
) -> dict[str, Totals]:
    """Each server loaded with its request in `args.rounds` interleaved rounds (after a
    warm-up), `args.concurrency` connections each; the totals by server name."""
    totals = {server.name: Totals() for server in servers}
    per_round = args.duration / args.rounds
    async with contextlib.AsyncExitStack() as stack:
        senders = {
            s.name: await open_senders(
                stack, args.client, s, requests[s.name], concurrency=args.concurrency
            )
            for s in servers
        }

        async def run(server: Server, seconds: float, counted: bool) -> None:
            await load_round(
                senders[server.name],
                server,
                seconds=seconds,
                totals=totals[server.name] if counted else None,
                postmaster=postmaster,
            )

        console.print(f"Warming up each endpoint for {args.warmup:g} s …")
        for server in servers:
            await run(server, args.warmup, counted=False)
        console.print(
            f"Measuring: {args.rounds} interleaved rounds of {per_round:g} s per endpoint, "
            f"{args.concurrency} connections ({args.client} client) …"
        )
        for i in range(args.rounds):
            # Alternate which endpoint goes first, so drift in the machine hits both alike.
            for server in servers if i % 2 == 0 else servers[::-1]:
                await run(server, per_round, counted=True)
            rates = "  ".join(f"{s.name} {totals[s.name].rounds[-1]:7.1f}" for s in servers)
            console.print(f"  round {i + 1}/{args.rounds}: {rates} req/s")
    return totals
