"""Every staff list query at 10,000, 100,000 and 1,000,000 clients, in one growing database.

    python -m bench.scale                              # 10k, 100k, 1M clients
    python -m bench.scale --sizes 10000 30000 100000   # what `make bench` quick runs
    python -m bench.scale --keep                       # keep the database directory
    python -m bench.scale --sizes 1000000 --reuse DIR  # seed once into DIR, measure again

What it does (see bench/README.md for how to read the output):
1. starts a private PostgreSQL and Redis in a temporary directory, migrates and creates a
   staff login (ADMIN);
2. for each size, grows the database to it: seeds the clients (`app.seed.seed_clients`),
   gives the new ones services and unpaid invoices (`app.seed.seed_services_and_invoices`),
   a payment for every other invoice, an audit entry each and one failed email per hundred;
   then `VACUUM ANALYZE`;
3. times every list query staff can send, end to end over HTTP to one uvicorn process of the
   real app (`bench.clients_query`'s server and keep-alive client): the median of `--runs`
   after `--warmup`. The queries come from the committed SDL: every root field returning a
   connection (first 50, every scalar of the nodes and of the connection, such as
   `totalCount`), once more with `clientId` where it takes one, the client list's filters,
   and `client(id)` with every list of the client;
4. prints the latency of each query at each size, the client counts against the exact ones,
   and one target row per query at the largest size (goal ≤ 15 ms); stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from rich import box
from rich.console import Console
from rich.table import Table

from app import db
from app.devservices import start_postgres, start_redis, stop_postgres
from app.migrate import migrate
from bench.harness import (
    ROOT,
    STAFF_EMAIL,
    Server,
    create_bench_staff,
    db_cpu_seconds,
    event_loop_factory,
    login,
    postmaster_pid,
    sigterm_as_exit,
    start_server,
)
from bench.list_queries import PAGE_SIZE, ListQuery, list_queries
from bench.load import KeepAliveConnection
from bench.scale_data import exact_counts, grow, sample_values
from bench.targets import Target, print_targets
from domain.totals import TOTAL_COUNT_CAP

console = Console()

GOAL_MS = 15.0
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 30_000, 100_000)


# --------------------------------------------------------------------------- timing


@dataclass
class Measured:
    milliseconds: float  # median latency, end to end
    # Mean CPU per request of the uvicorn process and of PostgreSQL (server and backends):
    # the kernel counts CPU in ticks of 10 ms, so one request's figure is 0 or 10.
    app_cpu_ms: float
    db_cpu_ms: float
    total: int | None = None
    estimate: bool | None = None


@dataclass
class Timed:
    """A query ready to send again and again, and what each send cost."""

    query: ListQuery
    connection: KeepAliveConnection
    answer: dict[str, Any]
    latencies: list[float]
    app_cpu: list[float]
    db_cpu: list[float]

    def measured(self) -> Measured:
        data = next(iter(self.answer["data"].values()))
        return Measured(
            statistics.median(self.latencies) * 1000,
            statistics.mean(self.app_cpu) * 1000,
            statistics.mean(self.db_cpu) * 1000,
            data.get("totalCount"),
            data.get("totalCountIsEstimate"),
        )


async def _ready(server: Server, token: str, query: ListQuery, values: dict[str, Any]) -> Timed:
    """Send `query` once (it must answer without errors) and open its own connection."""
    body = orjson.dumps({"query": query.document, "variables": query.variables(values)})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(server.url, content=body, headers=headers)
    answer = response.json()
    if response.status_code != 200 or answer.get("errors"):
        raise RuntimeError(f"{query.name}: {response.status_code} {answer}")
    request = KeepAliveConnection.encode_request(server, body, headers)
    connection = KeepAliveConnection(server, request, len(response.content))
    return Timed(query, connection, answer, [], [], [])


async def time_queries(
    server: Server,
    postmaster: psutil.Process | None,
    token: str,
    queries: list[ListQuery],
    values: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Measured]:
    """Each query's median latency and CPU, one request at a time over its own keep-alive
    connection, in interleaved rounds (every query once per round) so that the neighbours'
    bursts on a shared machine spread over all queries alike."""
    timed = [await _ready(server, token, query, values) for query in queries]
    clock = time.perf_counter
    try:
        for round_ in range(args.warmup + args.runs):
            for t in timed:
                app, database, started = server.cpu_seconds(), db_cpu_seconds(postmaster), clock()
                if not await t.connection.send():
                    raise RuntimeError(f"{t.query.name}: an answer differed from the first")
                if round_ >= args.warmup:
                    t.latencies.append(clock() - started)
                    t.app_cpu.append(server.cpu_seconds() - app)
                    t.db_cpu.append(db_cpu_seconds(postmaster) - database)
    finally:
        for t in timed:
            await t.connection.close()
    return {t.query.name: t.measured() for t in timed}


@dataclass
class Results:
    sizes: list[int]
    # query name → size → measurement
    latencies: dict[str, dict[int, Measured]]
    exact: dict[int, dict[str, int]]
    load: dict[int, float]


async def measure_size(
    server: Server,
    postmaster: psutil.Process | None,
    database_url: str,
    queries: list[ListQuery],
    results: Results,
    size: int,
    args: argparse.Namespace,
) -> None:
    conn = await db.connect(database_url)
    try:
        values = await sample_values(conn)
        results.exact[size] = await exact_counts(conn, values)
    finally:
        await conn.close()
    token = await login(server)
    measured = await time_queries(server, postmaster, token, queries, values, args)
    for name, figures in measured.items():
        results.latencies.setdefault(name, {})[size] = figures
    results.load[size] = os.getloadavg()[0]


def app_env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ENVIRONMENT": "production",
        "PYTHONPATH": str(ROOT),
    }


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> Results:
    console.print(f"Starting PostgreSQL and Redis in {tmp} …")
    pg_dir = tmp / "postgres"
    stack.callback(stop_postgres, pg_dir)
    database_url = start_postgres(pg_dir)
    redis = start_redis(tmp / "redis")
    stack.callback(redis.stop)
    queries = list_queries((ROOT / "schema.graphql").read_text())
    results = Results(list(args.sizes), {}, {}, {})

    async def prepare() -> None:
        conn = await db.connect(database_url)
        try:
            await migrate(conn)
            # A database kept by `--reuse` has its staff login from the first run.
            if not await conn.fetchval("SELECT 1 FROM logins WHERE email = $1", STAFF_EMAIL):
                await create_bench_staff(conn)
        finally:
            await conn.close()

    async def grow_to(size: int) -> None:
        conn = await db.connect(database_url)
        try:
            await grow(conn, size, console)
        finally:
            await conn.close()

    asyncio.run(prepare())
    server = start_server(
        "graphql", "app.main:create_app_from_env", "/graphql", app_env(database_url, redis.url), tmp
    )
    stack.callback(server.stop)
    pid = postmaster_pid(pg_dir)
    postmaster = psutil.Process(pid) if pid else None
    for size in args.sizes:
        asyncio.run(grow_to(size))
        console.print(f"Timing {len(queries)} list queries at {size:,} clients …")
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(measure_size(server, postmaster, database_url, queries, results, size, args))
    return results


# --------------------------------------------------------------------------- reporting


def _ms(measured: Measured | None) -> str:
    return "–" if measured is None else f"{measured.milliseconds:.1f}"


def _cpu(measured: Measured) -> str:
    return f"CPU {measured.app_cpu_ms:.1f} + {measured.db_cpu_ms:.1f} ms"


def report(results: Results) -> None:
    table = Table(
        title=f"Staff list queries, median ms end to end (first: {PAGE_SIZE})",
        caption="load average while timing: "
        + ", ".join(f"{results.load[s]:.1f} at {s:,}" for s in results.sizes),
        box=box.SIMPLE_HEAD,
    )
    table.add_column("query")
    for size in results.sizes:
        table.add_column(f"{size:,}", justify="right")
    for name, by_size in results.latencies.items():
        cells = []
        for size in results.sizes:
            cell = _ms(by_size.get(size))
            slow = size == results.sizes[-1] and by_size[size].milliseconds > GOAL_MS
            cells.append(f"[red]{cell}[/]" if slow else cell)
        table.add_row(name, *cells)
    console.print(table)

    cpu = Table(
        title="CPU per request, mean ms: uvicorn process + PostgreSQL (the stable figures)",
        box=box.SIMPLE_HEAD,
    )
    cpu.add_column("query")
    for size in results.sizes:
        cpu.add_column(f"{size:,}", justify="right")
    for name, by_size in results.latencies.items():
        cpu.add_row(
            name,
            *(f"{by_size[s].app_cpu_ms:.1f} + {by_size[s].db_cpu_ms:.1f}" for s in results.sizes),
        )
    console.print(cpu)

    counts = Table(
        title=f"clients totalCount (exact up to {TOTAL_COUNT_CAP:,}) against the exact count",
        box=box.SIMPLE_HEAD,
    )
    counts.add_column("query")
    for size in results.sizes:
        counts.add_column(f"{size:,}", justify="right")
    for name in results.exact[results.sizes[0]]:
        cells = []
        for size in results.sizes:
            measured, exact = results.latencies[name][size], results.exact[size][name]
            if measured.total is None:
                cells.append("–")
                continue
            error = (measured.total - exact) / exact * 100 if exact else 0.0
            kind = f"estimate, {error:+.0f}%" if measured.estimate else "exact"
            cells.append(f"{measured.total:,} / {exact:,} ({kind})")
        counts.add_row(name, *cells)
    console.print(counts)


def targets_of(results: Results) -> list[Target]:
    first, last = results.sizes[0], results.sizes[-1]
    return [
        Target(
            name=f"{name} at {last:,} clients",
            goal=f"≤ {GOAL_MS:g} ms",
            baseline=f"{_ms(by_size[first])} ms at {first:,} ({_cpu(by_size[first])})",
            measured=f"{_ms(by_size[last])} ms ({_cpu(by_size[last])})",
            met=by_size[last].milliseconds <= GOAL_MS,
        )
        for name, by_size in results.latencies.items()
    ]


def bench(args: argparse.Namespace) -> Results:
    if args.reuse:
        args.reuse.mkdir(parents=True, exist_ok=True)
        with sigterm_as_exit(), contextlib.ExitStack() as stack:
            return run(args, stack, args.reuse.resolve())
    tmp = Path(tempfile.mkdtemp(prefix="clientdesk-bench-scale-"))
    if not args.keep:
        # Also at exit, after the embedded PostgreSQL's own exit hook, which touches files in
        # the directory (as bench.clients_query does).
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    try:
        with sigterm_as_exit(), contextlib.ExitStack() as stack:
            return run(args, stack, tmp)
    finally:
        if args.keep:
            console.print(f"Kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def targets(quick: bool) -> list[Target]:
    """One row per staff list query at the largest size (1,000,000; 100,000 when `quick`),
    against the same query at 10,000 clients in the same run."""
    args = parse_args(["--sizes", *map(str, QUICK_SIZES if quick else SIZES)])
    return targets_of(bench(args))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="client counts, growing"
    )
    parser.add_argument("--runs", type=int, default=21, help="timed rounds (each query once)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="keep the database in DIR: the first run seeds it, later runs measure it as it is "
        "(sizes below what it holds are refused)",
    )
    args = parser.parse_args(argv)
    if args.sizes != sorted(args.sizes):
        parser.error("--sizes must grow")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = bench(args)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted; stopped the servers.[/]")
        return 130
    except RuntimeError as error:
        console.print(f"[red]{error}[/]")
        return 1
    report(results)
    rows = targets_of(results)
    print_targets(rows, console)
    return 0 if all(t.met for t in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
