"""Whether `requestPasswordReset`'s timing tells which addresses have a login (SPEC 5.2).

    python -m bench.reset_timing                  # 120 interleaved pairs, after 10 warm-up pairs
    python -m bench.reset_timing --pairs 300

The answer is the same whatever the address; an attacker who times it may still learn
which addresses have logins. This measures what such an attacker sees:
1. starts a private PostgreSQL and Redis, migrates, adds `--pairs` clients (the known
   addresses; the unknown ones are made the same way and have no login);
2. serves the real app in one uvicorn process (`ENVIRONMENT=production`; no worker runs,
   so what the request hands over waits in Redis and costs the server nothing later);
3. sends pairs one request at a time, a known and an unknown address, the order alternating
   from pair to pair so that drift on the machine hits both alike; between pairs it clears
   the reset budgets in Redis (outside the timing), so that the per-source budget does not
   refuse the benchmark's own requests. Every answer must be `ok` and the two identical;
4. prints p50/p90 per kind and two guesses an attacker could make: the best single
   threshold over all requests (above it: known; or below, whichever is better) and, per
   pair, "the slower one is known". 50 % is a coin toss.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis
from rich.console import Console

from app import db
from app.migrate import migrate
from bench.harness import Totals
from bench.scratch import run_in_scratch, serve_graphql
from domain.clients import services as client_services

console = Console(width=100)

REQUEST = "mutation($email: String!) { requestPasswordReset(email: $email) { ok errors { code } } }"
WARMUP_PAIRS = 10


def known_email(i: int) -> str:
    return f"known{i}@example.com"


def unknown_email(i: int) -> str:
    return f"unknown{i}@example.com"


async def prepare_database(database_url: str, clients: int) -> None:
    conn = await db.connect(database_url)
    try:
        await migrate(conn)
        for i in range(clients):
            await client_services.add_client(
                conn,
                {"first_name": "Known", "last_name": f"Client {i}", "email": known_email(i)},
                password=None,
                staff_id=None,
                send_welcome_email=False,
                client_area_url="http://127.0.0.1",
            )
    finally:
        await conn.close()


async def timed_request(client: httpx.AsyncClient, url: str, email: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = await client.post(url, json={"query": REQUEST, "variables": {"email": email}})
    seconds = time.perf_counter() - started
    if response.status_code != 200 or not response.json()["data"]["requestPasswordReset"]["ok"]:
        raise RuntimeError(f"request for {email} refused: {response.status_code} {response.text}")
    return seconds, response.text


async def forget_budgets(redis: Redis) -> None:
    keys = [key async for key in redis.scan_iter(match="*password-resets:*")]
    if keys:
        await redis.delete(*keys)


async def measure(url: str, redis_url: str, pairs: int) -> tuple[Totals, Totals, float]:
    """The known and unknown latencies (measured pairs only) and the share of pairs in which
    the known address was the slower."""
    known, unknown = Totals(), Totals()
    slower_known = 0
    redis = Redis.from_url(redis_url)
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            for n in range(WARMUP_PAIRS + pairs):
                i = n % pairs  # the warm-up asks for addresses the measurement asks again
                order = [known_email(i), unknown_email(i)]
                if n % 2:
                    order.reverse()
                timings, bodies = {}, set()
                for email in order:
                    timings[email], body = await timed_request(client, url, email)
                    bodies.add(body)
                if len(bodies) != 1:
                    raise RuntimeError(f"different answers for {order}: {bodies}")
                await forget_budgets(redis)
                if n < WARMUP_PAIRS:
                    continue
                known.latencies.append(timings[known_email(i)])
                unknown.latencies.append(timings[unknown_email(i)])
                slower_known += timings[known_email(i)] > timings[unknown_email(i)]
    finally:
        await redis.aclose()
    return known, unknown, slower_known / pairs


def best_threshold(known: list[float], unknown: list[float]) -> tuple[float, float]:
    """The threshold whose guess (known above it, or below it: whichever is better) is right
    most often over all requests; returns it and the share of right guesses."""
    labelled = sorted([(t, True) for t in known] + [(t, False) for t in unknown])
    best, best_at = 0.5, labelled[0][0]
    known_below = 0
    for position, (seconds, is_known) in enumerate(labelled, start=1):
        known_below += is_known
        unknown_below = position - known_below
        # "known above the threshold": right for the unknown below and the known above.
        above = unknown_below + (len(known) - known_below)
        share = max(above, len(labelled) - above) / len(labelled)
        if share > best:
            best, best_at = share, seconds
    return best_at, best


def report(known: Totals, unknown: Totals, slower_known: float) -> None:
    for name, totals in (("known address", known), ("unknown address", unknown)):
        console.print(
            f"{name:<16} p50 {totals.percentile(0.50) * 1000:6.2f} ms   "
            f"p90 {totals.percentile(0.90) * 1000:6.2f} ms   ({len(totals.latencies)} requests)"
        )
    threshold, accuracy = best_threshold(known.latencies, unknown.latencies)
    console.print(
        f"best threshold {threshold * 1000:.2f} ms guesses right {accuracy:.1%}; "
        f"'the slower of a pair is known' right {slower_known:.1%} (a coin toss: 50%)"
    )


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> int:
    served = serve_graphql(stack, tmp, console, lambda url: prepare_database(url, args.pairs))
    console.print(f"{args.pairs} interleaved pairs after {WARMUP_PAIRS} warm-up pairs …")
    known, unknown, slower_known = asyncio.run(
        measure(served.server.url, served.redis_url, args.pairs)
    )
    report(known, unknown, slower_known)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reset_timing", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--pairs", type=int, default=120, help="measured pairs of requests")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_scratch(lambda stack, tmp: run(args, stack, tmp), console)


if __name__ == "__main__":
    sys.exit(main())
