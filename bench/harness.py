"""The harness every HTTP benchmark here shares: the servers it starts and stops, the staff
login it uses, the load generator and the totals it keeps (bench.clients_query's, first;
bench.client_detail, bench.scale and the others import it).

Each server runs in a process of its own, so that the CPU it uses can be read apart (its
process and children, `Server.cpu_seconds`), and PostgreSQL's beside it (`db_cpu_seconds`).
The load is a bounded asyncio generator: `concurrency` keep-alive connections per endpoint,
each sending its next request when the last is answered, in rounds alternating between the
endpoints so that drift in the machine hits each alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from rich.console import Console

from app.devservices import free_port
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff

ROOT = Path(__file__).resolve().parent.parent
console = Console()

STAFF_EMAIL = "bench@localhost"
STAFF_PASSWORD = "bench-password-1"  # noqa: S105 -- a throw-away login in a throw-away database

LOGIN = """mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { token errors { field code message } }
}"""


@dataclass(frozen=True)
class Request:
    """What the load sends one endpoint, and the length of the answer that counts as right."""

    body: bytes
    headers: dict[str, str]
    expected_length: int


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


async def create_bench_staff(conn: asyncpg.Connection) -> None:
    """The staff login (ADMIN) every benchmark of the API logs in with."""
    await create_staff(
        conn,
        email=STAFF_EMAIL,
        password=STAFF_PASSWORD,
        first_name="Bench",
        last_name="Staff",
        role=StaffRole.ADMIN,
    )


def set_parent_death_signal() -> None:
    """Linux: the server gets SIGTERM should the benchmark die without cleaning up."""
    if sys.platform == "linux":
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    path: str
    log_path: Path
    _cpu: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self._cpu = psutil.Process(self.process.pid)

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def cpu_seconds(self) -> float:
        """CPU of the server and of its worker processes, if it runs several."""
        total = 0.0
        for process in (self._cpu, *self._cpu.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def uvicorn_options() -> list[str]:
    options = []
    if importlib.util.find_spec("uvloop"):
        options += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools"):
        options += ["--http", "httptools"]
    return options


def start_server(
    name: str, factory: str, path: str, env: dict[str, str], logs: Path, *, workers: int = 1
) -> Server:
    port = free_port()
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                *uvicorn_options(),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the servers in order
            preexec_fn=set_parent_death_signal,
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", path, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} server did not start:\n{log_path.read_text()[-3000:]}")


def first_difference(a: Any, b: Any, path: str = "data") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


async def login(app: Server) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            app.url,
            json={"query": LOGIN, "variables": {"email": STAFF_EMAIL, "password": STAFF_PASSWORD}},
        )
    payload = response.json()["data"]["login"]
    if payload["errors"]:
        raise RuntimeError(f"login failed: {payload['errors']}")
    token: str = payload["token"]
    return token


@dataclass
class Totals:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    db_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def db_cpu_seconds(postmaster: psutil.Process | None) -> float:
    """CPU time of the PostgreSQL server and its backends (the pool connections persist)."""
    if postmaster is None:
        return 0.0
    total = 0.0
    for process in (postmaster, *postmaster.children()):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


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


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def event_loop_factory() -> Any:
    if importlib.util.find_spec("uvloop"):
        import uvloop

        return uvloop.new_event_loop
    return None
