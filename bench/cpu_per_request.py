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
same for any version of the code: run it on two checkouts to compare them (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import orjson

from app import db
from app.devservices import start_postgres, start_redis, stop_postgres
from app.main import create_app_from_env
from bench.client_detail import DETAIL, add_detail
from bench.clients_query import CLIENTS, Bench, prepare_database
from bench.harness import STAFF_EMAIL, console
from domain.auth import sessions


async def cpu_per_request(
    database_url: str, redis_url: str, benches: list[Bench], requests: int, repeats: int
) -> dict[str, list[float]]:
    """Per bench, the CPU ms per request of each run."""
    conn = await db.connect(database_url)
    try:
        login = await conn.fetchval("SELECT id FROM logins WHERE email = $1", STAFF_EMAIL)
        token = await sessions.start_session(conn, login, ttl=timedelta(hours=1))
    finally:
        await conn.close()
    # Built as a serving process builds it (app.main), with production settings; warnings
    # only, or the in-process client would log each request (a server has no such line).
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ENVIRONMENT="production",
        LOG_LEVEL="WARNING",
    )
    app = create_app_from_env()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    runs: dict[str, list[float]] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for bench in benches:
                body = orjson.dumps({"query": bench.query, "variables": bench.variables})
                answer = (await client.post("/graphql", content=body, headers=headers)).json()
                if "errors" in answer:
                    raise RuntimeError(f"{bench.title}: {answer['errors']}")
                for _ in range(min(requests, 50)):  # warm: caches, prepared statements
                    await client.post("/graphql", content=body, headers=headers)
                runs[bench.title] = []
                for _ in range(repeats):
                    started = time.process_time()
                    for _ in range(requests):
                        await client.post("/graphql", content=body, headers=headers)
                    runs[bench.title].append((time.process_time() - started) / requests * 1000)
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
