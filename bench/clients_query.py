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
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import psutil

from app import db
from app.devservices import start_postgres, start_redis, stop_postgres
from app.migrate import migrate
from app.seed import seed_clients_with_progress
from app.server import usable_cores
from bench import postgraphile
from bench.comparison import ratio_targets, report
from bench.harness import (
    ROOT,
    Server,
    Totals,
    console,
    create_bench_staff,
    event_loop_factory,
    first_difference,
    login,
    postmaster_pid,
    sigterm_as_exit,
    start_server,
    uvicorn_options,
)
from bench.load import Request, measure
from bench.targets import Target, print_targets

AddData = Callable[[asyncpg.Connection], Awaitable[None]]
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


# --------------------------------------------------------------------------- checking


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
        difference = first_difference(documents[0], document)
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
    parser.add_argument(
        "--no-peer",
        dest="peer",
        action="store_false",
        help="leave PostGraphile out (it is installed with npm into var/ on first use)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    return parser.parse_args(argv)


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

    peer = start_peer(bench, database_url, tmp, args.pool_size, stack) if args.peer else None
    pid = postmaster_pid(pg_dir)
    postmaster = psutil.Process(pid) if pid else None
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        token = runner.run(login(servers[0]))
        body = orjson.dumps({"query": bench.query, "variables": bench.variables})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        length = runner.run(check_identical(servers, body, headers, bench, args.clients))
        requests = {s.name: Request(body, headers, length) for s in servers}
        if peer is not None and bench.peer is not None:
            requests[peer.name] = runner.run(
                check_peer(peer, bench.peer, servers[0], body, headers)
            )
            servers.append(peer)
        totals = runner.run(measure(servers, args, requests, postmaster))
    report(totals, args, bench.title, bench.ratio_goal)
    return totals


def start_peer(
    bench: Bench, database_url: str, tmp: Path, pool_size: int, stack: contextlib.ExitStack
) -> Server | None:
    """PostGraphile over the bench database (bench/postgraphile.py), or None (said why)."""
    command = postgraphile.installed() if bench.peer is not None else None
    if command is None:
        return None

    async def create_views() -> None:
        conn = await db.connect(database_url)
        try:
            await conn.execute(postgraphile.VIEWS_SQL)
        finally:
            await conn.close()

    asyncio.run(create_views())
    server = postgraphile.start(command, database_url, tmp, pool_size)
    stack.callback(server.stop)
    console.print(f"Serving PostGraphile (pid {server.process.pid}) over the same rows.")
    return server


async def check_peer(
    peer: Server, query: PeerQuery, ours: Server, body: bytes, headers: dict[str, str]
) -> Request:
    """PostGraphile's answer must carry our answer's data; what the load then sends it."""
    peer_body = orjson.dumps({"query": query.query, "variables": query.variables})
    peer_headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient() as client:
        mine = orjson.loads((await client.post(ours.url, content=body, headers=headers)).content)
        answer = await client.post(peer.url, content=peer_body, headers=peer_headers)
    theirs = orjson.loads(answer.content)
    if answer.status_code != 200 or theirs.get("errors"):
        raise RuntimeError(f"PostGraphile: HTTP {answer.status_code}: {answer.text[:500]}")
    difference = first_difference(query.ours(mine["data"]), query.theirs(theirs["data"]))
    if difference:
        raise RuntimeError(f"PostGraphile disagrees with graphql at {difference}")
    console.print(f"PostGraphile returns the same data ({len(answer.content)} bytes).")
    return Request(peer_body, peer_headers, len(answer.content))


@dataclass(frozen=True)
class PeerQuery:
    """The request PostGraphile answers with the same data, and each answer's data in one
    spelling (ids, cursors and field names are each server's own)."""

    query: str
    variables: dict[str, Any]
    ours: Callable[[dict[str, Any]], Any]
    theirs: Callable[[dict[str, Any]], Any]


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
    peer: PeerQuery | None = None  # the same as PostGraphile serves it


CLIENTS = Bench(
    f"clients(first: {PAGE_SIZE})",
    QUERY,
    "/raw",
    check_clients_page,
    ratio_goal="; target ≥ 35%",  # issue 24
    peer=PeerQuery(
        postgraphile.CLIENTS_QUERY,
        {},
        postgraphile.our_clients_page,
        postgraphile.their_clients_page,
    ),
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


QUICK = ["--clients", "2000", "--duration", "6", "--rounds", "2", "--warmup", "1"]


def targets(quick: bool) -> list[Target]:
    """`clients(first: 50)` served by us, the raw endpoint, PostGraphile and our API with
    one process per core (at least two), in the same run: issue 24's ratios."""
    args = parse_args([*(QUICK if quick else []), "--workers", str(max(2, usable_cores()))])
    totals = measure_in_temporary_directory(args, CLIENTS)
    if totals is None:
        raise RuntimeError("bench.clients_query did not finish")
    return clients_targets(totals)


def clients_targets(totals: dict[str, Totals]) -> list[Target]:
    """Issue 24: the page against PostGraphile (req/s, and the CPU a request costs the
    machine), against the raw endpoint (server CPU), and one process per core against one."""
    return ratio_targets(CLIENTS.title, totals, peer_rate=1.0, raw_share=0.35, workers=1.6)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    totals = measure_in_temporary_directory(args, CLIENTS)
    if totals is None:
        return 1
    print_targets(clients_targets(totals), console)
    return 1 if any(t.errors for t in totals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
