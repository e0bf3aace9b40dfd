"""CPU per request of the app in this process, one request at a time: the steadier figure.

    python -m bench.cpu_per_request                  # both benchmark queries
    python -m bench.cpu_per_request --requests 500 --repeats 5

Under load on a shared machine the CPU a server spends per request grows with its
neighbours (caches, hyper-threads, 32 connections queued): bench.clients_query's raw endpoint
went from 0.49 to 0.66 ms between a quiet and a busy minute. Here the real app (as a
serving process builds it, `ENVIRONMENT=production`) answers the requests of bench.clients_query and
bench.client_detail one after the other through httpx's in-process ASGI transport, on the
same seeded data, and the best of `--repeats` runs of `--requests` is printed. The figure
includes the in-process client's own work (building the request, reading the answer), the
same for any version of the code. To compare two checkouts, bench.ab_compare runs both at once.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import orjson

from app import db
from app.devservices import start_postgres, start_redis, stop_postgres
from bench.client_detail import DETAIL, add_detail
from bench.clients_query import CLIENTS, Bench, prepare_database
from bench.harness import STAFF_EMAIL, console
from bench.in_process import app_client, bearer, cpu_ms_per_request, first_answer
from domain.auth import sessions


async def staff_token(database_url: str) -> str:
    """A session of the bench's staff login (bench.harness), as a bearer token."""
    conn = await db.connect(database_url)
    try:
        login = await conn.fetchval("SELECT id FROM logins WHERE email = $1", STAFF_EMAIL)
        return await sessions.start_session(conn, login, ttl=timedelta(hours=1))
    finally:
        await conn.close()


def request_body(bench: Bench) -> bytes:
    return orjson.dumps({"query": bench.query, "variables": bench.variables})


async def cpu_per_request(
    database_url: str, redis_url: str, benches: list[Bench], requests: int, repeats: int
) -> dict[str, list[float]]:
    """Per bench, the CPU ms per request of each run."""
    headers = bearer(await staff_token(database_url))
    runs: dict[str, list[float]] = {}
    async with app_client(database_url, redis_url) as client:
        for bench in benches:
            body = request_body(bench)
            answer = orjson.loads(await first_answer(client, body, headers, min(requests, 50)))
            if "errors" in answer:
                raise RuntimeError(f"{bench.title}: {answer['errors']}")
            runs[bench.title] = [
                await cpu_ms_per_request(client, body, headers, requests) for _ in range(repeats)
            ]
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cpu_per_request", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--clients", type=int, default=2000, help="clients to seed")
    parser.add_argument("--requests", type=int, default=300, help="requests per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per query (best shown)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="clientdesk-bench-"))
    # Also at exit, after the embedded PostgreSQL's own exit hook, which writes in it.
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    try:
        database_url = start_postgres(tmp / "postgres")
        redis = start_redis(tmp / "redis")
        try:
            asyncio.run(prepare_database(database_url, args.clients, add_detail))
            runs = asyncio.run(
                cpu_per_request(
                    database_url, redis.url, [CLIENTS, DETAIL], args.requests, args.repeats
                )
            )
        finally:
            redis.stop()
            stop_postgres(tmp / "postgres")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    for title, ms in runs.items():
        console.print(
            f"{title}: [bold]{min(ms):.2f} ms[/] CPU per request "
            f"(runs {', '.join(f'{m:.2f}' for m in ms)}; load average {load})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
