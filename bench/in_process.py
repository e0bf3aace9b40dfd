"""The app of one checkout in this process, timed in CPU per request: what bench.cpu_per_request
measures, and the process bench.ab_compare starts for each of the two checkouts it compares.

Run as a file (`python -P bench/in_process.py DATABASE_URL REDIS_URL`, -P: not bench/ first
on the path) with PYTHONPATH the checkout to measure: it imports nothing of `bench`, only that
checkout's `app`, so the checkout measured needs no copy of this file (an old commit's
`git archive` will do). Its
protocol, one line each, on stdin and stdout:

    in:  {"token": "...", "bodies": ["<JSON body>", ...], "warmup": 50}    (one JSON line)
    out: the first answer to each body, one JSON line each, then "ready"
    in:  "<index of the body> <requests>"   out: CPU ms per request of that burst
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson

from app.main import create_app_from_env


@asynccontextmanager
async def app_client(database_url: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of the app built as a serving process builds it (app.main), with
    production settings; warnings only, or the client would log each request (a server has no
    such line)."""
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ENVIRONMENT="production",
        LOG_LEVEL="WARNING",
    )
    app = create_app_from_env()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def cpu_ms_per_request(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str], requests: int
) -> float:
    """CPU of this process (the app and the in-process client) per request, `requests` in turn."""
    started = time.process_time()
    for _ in range(requests):
        await client.post("/graphql", content=body, headers=headers)
    return (time.process_time() - started) / requests * 1000


async def first_answer(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str], warmup: int
) -> bytes:
    """The first answer to `body`, then `warmup` more requests (caches, prepared statements)."""
    answer = (await client.post("/graphql", content=body, headers=headers)).content
    await cpu_ms_per_request(client, body, headers, warmup)
    return answer


async def serve_bursts(database_url: str, redis_url: str) -> None:
    loop = asyncio.get_running_loop()
    setup = orjson.loads(await loop.run_in_executor(None, sys.stdin.readline))
    headers = bearer(setup["token"])
    bodies = [body.encode() for body in setup["bodies"]]
    async with app_client(database_url, redis_url) as client:
        for body in bodies:
            answer = await first_answer(client, body, headers, setup["warmup"])
            print(answer.decode(), flush=True)
        print("ready", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            index, requests = line.split()
            ms = await cpu_ms_per_request(client, bodies[int(index)], headers, int(requests))
            print(ms, flush=True)


if __name__ == "__main__":
    asyncio.run(serve_bursts(sys.argv[1], sys.argv[2]))
