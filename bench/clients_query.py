"""GraphQL `clients(first: 50)` against a raw Starlette + asyncpg baseline, in one run.

    python -m bench.clients_query            # or: make bench
    python -m bench.clients_query --help     # duration, rounds, concurrency, clients …

What it does (see bench/README.md for how to read the output):
1. starts a private PostgreSQL and Redis in a temporary directory, migrates, seeds the
   clients, gives each one sent email and creates a staff login;
2. serves the real app and the raw baseline (bench/raw_app.py), each in its own uvicorn
   process (one worker, uvloop + httptools when installed) with the same pool sizes;
3. checks that both return the same JSON body, then loads them in interleaved rounds with a
   bounded asyncio load generator (keep-alive connections on asyncio streams, or httpx with
   `--client httpx`) and prints req/s, latencies and the ratio;
4. stops every process it started and removes the temporary directory, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import psutil
from rich import box
from rich.console import Console
from rich.table import Table

from app import db
from app.devservices import free_port, start_postgres, start_redis, stop_postgres
from app.migrate import migrate
from app.seed import seed_clients_with_progress
from app.server import usable_cores
from bench.targets import Target, print_targets
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff

ROOT = Path(__file__).resolve().parent.parent
AddData = Callable[[asyncpg.Connection], Awaitable[None]]
console = Console()

STAFF_EMAIL = "bench@localhost"
STAFF_PASSWORD = "bench-password-1"  # noqa: S105 -- a throw-away login in a throw-away database
PAGE_SIZE = 50

QUERY = """query Clients {
  clients(first: 50) {
    totalCount
    edges {
      cursor
      node {
        id firstName lastName companyName email displayName status
        currency { code prefix suffix }
        address { city country }
        creditBalance
        emails { subject sentAt }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""

LOGIN = """mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { token errors { field code message } }
}"""

# One sent email per client, set-wise, so that the nested `emails` list has data.
EMAILS_SQL = """
INSERT INTO emails (client_id, template, category, to_address, to_name, message_id, subject,
                    body, attempts, created_at, sent_at)
SELECT c.id, 'client_signup', 'GENERAL', c.email::text, c.first_name || ' ' || c.last_name,
       '<bench-' || c.id || '@clientdesk>', 'Welcome to Clientdesk, ' || c.first_name,
       'Dear ' || c.first_name || E',\n\nyour client area is ready.\n', 1,
       c.created_at, c.created_at + make_interval(secs => 1 + c.id % 600)
  FROM clients c"""


# --------------------------------------------------------------------------- services


def _postmaster_pid(data_dir: Path) -> int | None:
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


async def prepare_database(
    database_url: str, clients: int, add_data: AddData | None = None
) -> None:
    conn = await db.connect(database_url)
    try:
        await migrate(conn)
        await seed_clients_with_progress(conn, clients, console=console, seed=42)
        emails = await conn.execute(EMAILS_SQL)
        console.print(f"Added {emails.split()[-1]} sent emails (one per client).")
        if add_data is not None:
            await add_data(conn)
        await create_bench_staff(conn)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def _set_parent_death_signal() -> None:
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
            preexec_fn=_set_parent_death_signal,
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


# --------------------------------------------------------------------------- checking


def _first_difference(a: Any, b: Any, path: str = "data") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            found = _first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
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


async def check_identical(
    servers: list[Server], body: bytes, headers: dict[str, str], bench: Bench, clients: int
) -> int:
    """Both endpoints must answer with the same data; return the body length in bytes."""
    async with httpx.AsyncClient() as client:
        responses = [await client.post(s.url, content=body, headers=headers) for s in servers]
    for server, response in zip(servers, responses, strict=True):
        if response.status_code != 200:
            raise RuntimeError(f"{server.name}: HTTP {response.status_code}: {response.text[:500]}")
    documents = [orjson.loads(r.content) for r in responses]
    graphql = documents[0]
    if graphql.get("errors") or set(graphql) != {"data"}:
        raise RuntimeError(f"GraphQL answered with errors: {graphql.get('errors')}")
    for server, document in zip(servers[1:], documents[1:], strict=True):
        difference = _first_difference(documents[0], document)
        if difference:
            raise RuntimeError(f"{server.name} disagrees with graphql at {difference}")
    what = bench.check(graphql["data"], clients)
    lengths = {len(r.content) for r in responses}
    same_bytes = len({r.content for r in responses}) == 1
    console.print(
        f"Both endpoints return the same data: {what}; "
        f"bodies {'byte-identical' if same_bytes else 'equal as JSON'}, "
        f"{'/'.join(str(n) for n in sorted(lengths))} bytes."
    )
    return len(responses[0].content)


def check_clients_page(data: dict[str, Any], clients: int) -> str:
    page = data["clients"]
    edges = page["edges"]
    if page["totalCount"] != clients or len(edges) != PAGE_SIZE:
        raise RuntimeError(f"unexpected page: totalCount {page['totalCount']}, {len(edges)} edges")
    if any(len(edge["node"]["emails"]) != 1 for edge in edges):
        raise RuntimeError("each client should show its one sent email")
    return (
        f"totalCount {page['totalCount']}, {len(edges)} clients with their emails, cursors "
        "and pageInfo equal"
    )


# --------------------------------------------------------------------------- load


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


def _db_cpu_seconds(postmaster: psutil.Process | None) -> float:
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
    *,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    expected_length: int,
) -> list[Send]:
    """`concurrency` callables, each sending the request over its own connection."""
    if kind == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=60))

        async def send() -> bool:
            try:
                response = await client.post(server.url, content=body, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.01)
                return False
            return response.status_code == 200 and len(response.content) == expected_length

        return [send] * concurrency
    request = KeepAliveConnection.encode_request(server, body, headers)
    connections = [
        KeepAliveConnection(server, request, expected_length) for _ in range(concurrency)
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

    cpu = (time.process_time(), server.cpu_seconds(), _db_cpu_seconds(postmaster))
    began = clock()
    await asyncio.gather(*(user(send) for send in senders))
    elapsed = clock() - began
    if totals is not None:
        totals.requests += len(latencies)
        totals.errors += errors
        totals.seconds += elapsed
        totals.client_cpu += time.process_time() - cpu[0]
        totals.server_cpu += server.cpu_seconds() - cpu[1]
        totals.db_cpu += _db_cpu_seconds(postmaster) - cpu[2]
        totals.latencies += latencies
        totals.rounds.append(len(latencies) / elapsed)


async def measure(
    servers: list[Server],
    args: argparse.Namespace,
    body: bytes,
    headers: dict[str, str],
    expected_length: int,
    postmaster: psutil.Process | None,
) -> dict[str, Totals]:
    totals = {server.name: Totals() for server in servers}
    per_round = args.duration / args.rounds
    async with contextlib.AsyncExitStack() as stack:
        senders = {
            s.name: await open_senders(
                stack,
                args.client,
                s,
                body=body,
                headers=headers,
                concurrency=args.concurrency,
                expected_length=expected_length,
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


def report(totals: dict[str, Totals], args: argparse.Namespace, bench: Bench) -> None:
    title = bench.title
    table = Table(
        title=f"{title}, {args.concurrency} connections",
        caption="CPU used by the endpoint's server, by PostgreSQL and by the load generator "
        "(1 = a core); server CPU ms per request",
        box=box.SIMPLE_HEAD,
    )
    columns = ("endpoint", "req/s", "p50 ms", "p95 ms", "errors", "server", "db", "client")
    for column in (*columns, "ms/req"):
        table.add_column(
            column, justify="left" if column == "endpoint" else "right", min_width=len(column)
        )
    for name, t in totals.items():
        table.add_row(
            name,
            f"{t.rate:,.1f}",
            f"{t.percentile(0.50) * 1000:.1f}",
            f"{t.percentile(0.95) * 1000:.1f}",
            str(t.errors),
            f"{t.server_cpu / t.seconds:.2f}",
            f"{t.db_cpu / t.seconds:.2f}",
            f"{t.client_cpu / t.seconds:.2f}",
            f"{t.server_cpu / t.requests * 1000:.2f}" if t.requests else "-",
        )
    console.print(table)
    graphql, raw = totals["graphql"], totals["raw"]
    ratio = graphql.rate / raw.rate if raw.rate else float("nan")
    per_round = [g / r for g, r in zip(graphql.rounds, raw.rounds, strict=True) if r]
    console.print(
        f"GraphQL / raw = [bold]{ratio:.1%}[/] "
        f"(per round {min(per_round):.1%}–{max(per_round):.1%}{bench.ratio_goal})"
    )
    for name, t in totals.items():
        if name.startswith("graphql×") and graphql.rate:
            console.print(f"{name} / graphql (one worker) = [bold]{t.rate / graphql.rate:.0%}[/]")
    if graphql.requests and raw.requests and graphql.server_cpu:
        cpu_ratio = (raw.server_cpu / raw.requests) / (graphql.server_cpu / graphql.requests)
        console.print(f"Server CPU per request, raw / GraphQL = {cpu_ratio:.1%}")
    busiest = max(t.client_cpu / t.seconds for t in totals.values())
    if busiest > 0.5:
        console.print(
            f"[yellow]The load generator used {busiest:.0%} of a core: it may be what limits "
            "the faster endpoint, which makes the ratio look better than it is.[/]"
        )
    if graphql.errors or raw.errors:
        console.print("[red]Some requests failed or returned a different body; see errors.[/]")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.clients_query", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--clients", type=int, default=10_000, help="clients to seed")
    parser.add_argument("--duration", type=float, default=10, help="seconds per endpoint")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per endpoint")
    parser.add_argument("--concurrency", type=int, default=32, help="connections per endpoint")
    parser.add_argument("--pool-size", type=int, default=10, help="asyncpg pool max, both apps")
    parser.add_argument(
        "--client",
        choices=("lean", "httpx"),
        default="lean",
        help="load generator: keep-alive asyncio streams (default) or an httpx.AsyncClient",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=usable_cores(),
        help="also measure GraphQL served by this many uvicorn processes, as `clientdesk "
        "serve` does by default (one per core); 1 to skip",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    return parser.parse_args(argv)


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _event_loop_factory() -> Any:
    if importlib.util.find_spec("uvloop"):
        import uvloop

        return uvloop.new_event_loop
    return None


def run(
    args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path, bench: Bench
) -> dict[str, Totals]:
    """Start everything (stopped by `stack`), check, measure and report; the totals."""
    console.print(f"Starting PostgreSQL and Redis in {tmp} …")
    pg_dir = tmp / "postgres"
    stack.callback(stop_postgres, pg_dir)
    database_url = start_postgres(pg_dir)
    redis = start_redis(tmp / "redis")
    stack.callback(redis.stop)
    asyncio.run(prepare_database(database_url, args.clients, bench.add_data))

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "ENVIRONMENT": "production",
        "DB_POOL_MIN": str(min(2, args.pool_size)),
        "DB_POOL_MAX": str(args.pool_size),
        "PYTHONPATH": str(ROOT),
    }
    servers = []
    endpoints = [
        ("graphql", "app.main:create_app_from_env", "/graphql", 1),
        ("raw", "bench.raw_app:create_app", bench.raw_path, 1),
    ]
    if args.workers > 1:
        name = f"graphql×{args.workers}"
        endpoints.append((name, "app.main:create_app_from_env", "/graphql", args.workers))
    for name, factory, path, workers in endpoints:
        server = start_server(name, factory, path, env, tmp, workers=workers)
        stack.callback(server.stop)
        servers.append(server)
    console.print(
        f"Serving with uvicorn {' '.join(uvicorn_options()) or '(asyncio, h11)'}: "
        + ", ".join(f"{s.name} pid {s.process.pid}" for s in servers)
        + " (attach py-spy to profile)."
    )

    pid = _postmaster_pid(pg_dir)
    postmaster = psutil.Process(pid) if pid else None
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        token = runner.run(login(servers[0]))
        body = orjson.dumps({"query": bench.query, "variables": bench.variables})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        length = runner.run(check_identical(servers, body, headers, bench, args.clients))
        totals = runner.run(measure(servers, args, body, headers, length, postmaster))
    report(totals, args, bench)
    return totals


@dataclass(frozen=True)
class Bench:
    """What a benchmark of this harness sends, checks and compares with."""

    title: str
    query: str
    raw_path: str  # the raw endpoint's route answering the same body (bench/raw_app.py)
    # The GraphQL answer's `data` checked (it raises RuntimeError); says what was checked.
    check: Callable[[dict[str, Any], int], str]
    variables: dict[str, Any] = field(default_factory=dict)
    add_data: AddData | None = None  # more data after the seed, before VACUUM ANALYZE
    ratio_goal: str = ""  # after the GraphQL / raw ratio, e.g. "; target ≥ 30%"


CLIENTS = Bench(
    f"clients(first: {PAGE_SIZE})",
    QUERY,
    "/raw",
    check_clients_page,
    ratio_goal="; target ≥ 30%",  # docs/PERFORMANCE.md
)


def measure_in_temporary_directory(
    args: argparse.Namespace, bench: Bench
) -> dict[str, Totals] | None:
    """`run` in a temporary directory removed at the end (also on Ctrl-C or SIGTERM);
    None when it was interrupted or failed (said on the console)."""
    tmp = Path(tempfile.mkdtemp(prefix="clientdesk-bench-"))
    if not args.keep:
        # Also at exit, after the embedded PostgreSQL's own exit hook (registered later, so
        # run earlier), which touches files in the directory.
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    with sigterm_as_exit():
        try:
            with contextlib.ExitStack() as stack:
                return run(args, stack, tmp, bench)
        except KeyboardInterrupt:
            console.print("[yellow]Interrupted; stopped the servers.[/]")
        except RuntimeError as error:
            console.print(f"[red]{error}[/]")
        finally:
            if args.keep:
                console.print(f"Kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return None


def cpu_per_request_ms(totals: Totals) -> float:
    return totals.server_cpu / totals.requests * 1000 if totals.requests else float("nan")


def cpu_target(name: str, goal_ms: float, totals: dict[str, Totals], start: str = "") -> Target:
    """Server CPU per request of the GraphQL endpoint beside the raw one's, same run."""
    graphql = cpu_per_request_ms(totals["graphql"])
    raw = cpu_per_request_ms(totals["raw"])
    return Target(
        name=f"server CPU per request, {name}",
        goal=f"≤ {goal_ms:g} ms",
        baseline=f"raw endpoint {raw:.2f} ms{start}",
        measured=f"{graphql:.2f} ms",
        met=graphql <= goal_ms,
    )


def workers_target(totals: dict[str, Totals]) -> Target | None:
    """req/s of N uvicorn processes against one, same run; None without the N endpoint."""
    one = totals["graphql"]
    several = [(name, t) for name, t in totals.items() if name.startswith("graphql×")]
    if not several:
        return None
    name, n = several[0]
    workers = name.removeprefix("graphql×")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return Target(
        name=f"req/s with {workers} workers",
        goal=f"{workers} workers faster than 1",
        baseline=f"1 worker {one.rate:,.1f} req/s",
        measured=f"{n.rate:,.1f} req/s ({n.rate / one.rate:.0%}; load average {load})"
        if one.rate
        else f"{n.rate:,.1f} req/s",
        met=n.rate > one.rate,
    )


QUICK = ["--clients", "2000", "--duration", "6", "--rounds", "2", "--warmup", "1"]


def targets(quick: bool) -> list[Target]:
    """Issue 12, target 1: server CPU per request of `clients(first: 50)`; target 4: req/s
    with one uvicorn process and with one per core (at least two), in the same run."""
    args = parse_args([*(QUICK if quick else []), "--workers", str(max(2, usable_cores()))])
    totals = measure_in_temporary_directory(args, CLIENTS)
    if totals is None:
        raise RuntimeError("bench.clients_query did not finish")
    return clients_targets(totals)


def clients_targets(totals: dict[str, Totals]) -> list[Target]:
    rows = [cpu_target(CLIENTS.title, 2.5, totals, "; 5.1 ms at the start of issue 12")]
    several = workers_target(totals)
    return rows + ([several] if several else [])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    totals = measure_in_temporary_directory(args, CLIENTS)
    if totals is None:
        return 1
    print_targets(clients_targets(totals), console)
    return 1 if any(t.errors for t in totals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
