"""Latency of a cheap authenticated query while logins run concurrently.

    python -m bench.login_load                     # 10 concurrent logins, 10 s per phase
    python -m bench.login_load --logins 20 --duration 20

Password hashing is slow on purpose (argon2id, ~0.1 s of CPU). Done on the event loop it
stalls every other request of the process; this measures how much:
1. starts a private PostgreSQL and Redis, migrates, creates a staff login (the probe's
   viewer) and one client login per concurrent login loop;
2. serves the real app in one uvicorn process (`ENVIRONMENT=production`), with password
   budgets high enough that the throttle does not refuse the benchmark's own logins;
3. sends the probe (`viewer { kind email }`, bearer token) one at a time, first alone, then
   while `--logins` loops each log in again as soon as their previous login answered;
4. prints the probe's p50/p99 in both phases and the logins per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from app import db
from app.migrate import migrate
from bench.harness import Totals
from bench.scratch import run_in_scratch, serve_graphql
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff
from domain.clients import services as client_services

console = Console(width=100)

STAFF_EMAIL = "probe@localhost"
PASSWORD = "bench-password-1"  # noqa: S105 -- throw-away logins in a throw-away database
PROBE = "query { viewer { kind email } }"
LOGIN = """mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token errors { code } }
}"""
P99_TARGET_MS = 50


def client_email(i: int) -> str:
    return f"login{i}@example.com"


async def prepare_database(database_url: str, logins: int) -> None:
    conn = await db.connect(database_url)
    try:
        await migrate(conn)
        await create_staff(
            conn,
            email=STAFF_EMAIL,
            password=PASSWORD,
            first_name="Probe",
            last_name="Staff",
            role=StaffRole.READ_ONLY,
        )
        for i in range(logins):
            await client_services.add_client(
                conn,
                {"first_name": "Login", "last_name": f"Loop {i}", "email": client_email(i)},
                password=PASSWORD,
                staff_id=None,
                send_welcome_email=False,
                client_area_url="http://127.0.0.1",
            )
    finally:
        await conn.close()


async def log_in(client: httpx.AsyncClient, url: str, email: str) -> str:
    response = await client.post(
        url, json={"query": LOGIN, "variables": {"email": email, "password": PASSWORD}}
    )
    payload = response.json()["data"]["login"]
    if payload["errors"]:
        raise RuntimeError(f"login of {email} failed: {payload['errors']}")
    token: str = payload["token"]
    return token


async def probe_for(client: httpx.AsyncClient, url: str, token: str, seconds: float) -> Totals:
    """Send the probe one at a time for `seconds`; its latencies."""
    totals = Totals()
    headers = {"Authorization": f"Bearer {token}"}
    began = time.perf_counter()
    while (started := time.perf_counter()) - began < seconds:
        response = await client.post(url, json={"query": PROBE}, headers=headers)
        totals.latencies.append(time.perf_counter() - started)
        totals.requests += 1
        totals.errors += response.status_code != 200 or "errors" in response.json()
    totals.seconds = time.perf_counter() - began
    return totals


async def login_loop(url: str, email: str, stop: asyncio.Event) -> int:
    done = 0
    async with httpx.AsyncClient(timeout=60) as client:
        while not stop.is_set():
            await log_in(client, url, email)
            done += 1
    return done


async def measure(url: str, args: argparse.Namespace) -> tuple[Totals, Totals, float]:
    async with httpx.AsyncClient(timeout=60) as client:
        token = await log_in(client, url, STAFF_EMAIL)
        await probe_for(client, url, token, 1)  # warm-up
        console.print(f"Probe alone for {args.duration:g} s …")
        alone = await probe_for(client, url, token, args.duration)
        console.print(f"Probe with {args.logins} concurrent logins for {args.duration:g} s …")
        stop = asyncio.Event()
        loops = [
            asyncio.create_task(login_loop(url, client_email(i), stop)) for i in range(args.logins)
        ]
        began = time.perf_counter()
        loaded = await probe_for(client, url, token, args.duration)
        stop.set()
        logins = sum(await asyncio.gather(*loops))
        return alone, loaded, logins / (time.perf_counter() - began)


def report(alone: Totals, loaded: Totals, logins_per_second: float, logins: int) -> None:
    def line(name: str, t: Totals) -> str:
        return (
            f"{name:<28} p50 {t.percentile(0.50) * 1000:7.1f} ms   "
            f"p99 {t.percentile(0.99) * 1000:7.1f} ms   ({t.requests} probes, {t.errors} errors)"
        )

    console.print(line("probe alone", alone))
    console.print(line(f"probe, {logins} concurrent logins", loaded))
    p99 = loaded.percentile(0.99) * 1000
    verdict = "[green]met[/]" if p99 <= P99_TARGET_MS else "[red]missed[/]"
    console.print(
        f"logins: {logins_per_second:.1f}/s; probe p99 under load {p99:.1f} ms "
        f"(target ≤ {P99_TARGET_MS} ms: {verdict})"
    )


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> int:
    served = serve_graphql(
        stack,
        tmp,
        console,
        lambda url: prepare_database(url, args.logins),
        {"PASSWORD_HASH_BUDGET": "1000000"},
    )
    alone, loaded, rate = asyncio.run(measure(served.server.url, args))
    report(alone, loaded, rate, args.logins)
    return 1 if alone.errors or loaded.errors else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.login_load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--logins", type=int, default=10, help="concurrent login loops")
    parser.add_argument("--duration", type=float, default=10, help="seconds per phase")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_scratch(lambda stack, tmp: run(args, stack, tmp), console)


if __name__ == "__main__":
    sys.exit(main())
