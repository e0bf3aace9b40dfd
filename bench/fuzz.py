"""A longer GraphQL fuzzing campaign than the suite's: every operation, many cases, a new seed
each run (or the one given), as staff, a client and a sub-account.

    python -m bench.fuzz                          # 200 cases per operation and mode
    python -m bench.fuzz --examples 1000 --seed 7 --mode positive

Starts a private PostgreSQL and Redis in a temporary directory, runs the app in-process
(tests/fuzzing.py), prints per operation the cases and requests run and the server errors
found (a 5xx, or INTERNAL_SERVER_ERROR in the body), then stops what it started. Exits 1
when any server error was found.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from schemathesis import GenerationMode

from app import db
from app.devservices import start_postgres, start_redis, stop_postgres
from app.migrate import migrate
from app.settings import Settings
from tests.fuzzing import Campaign, InProcessAPI, fuzz_operation, operations

console = Console()


async def prepare_database(database_url: str) -> None:
    conn = await db.connect(database_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()


def campaign(settings: Settings, examples: int, seed: int, modes: list[GenerationMode]) -> int:
    api = InProcessAPI(settings)
    table = Table("operation", "mode", "cases", "requests", "server errors", "seconds")
    total = Campaign()
    try:
        for operation, mode in itertools.product(operations(settings), modes):
            found = Campaign()
            started = time.perf_counter()
            fuzz_operation(
                api,
                operation,
                max_examples=examples,
                campaign=found,
                mode=mode,
                random_seed=seed,
                stop_at_first=False,
            )
            table.add_row(
                operation.label,
                mode.value,
                str(found.cases),
                str(found.requests),
                str(len(found.failures)),
                f"{time.perf_counter() - started:.1f}",
            )
            total.cases += found.cases
            total.requests += found.requests
            total.failures += [
                (operation.label, role, problem) for _, role, problem in found.failures
            ]
            for query, role, problem in found.failures[:3]:
                console.print(f"[red]{operation.label} as {role}[/red]: {problem}\n{query}")
    finally:
        api.close()
    table.add_row("all", "", str(total.cases), str(total.requests), str(len(total.failures)), "")
    console.print(table)
    console.print(
        f"seed {seed}: {total.cases} cases, {total.requests} requests, "
        f"{len(total.failures)} server errors"
    )
    return 1 if total.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="cases per operation")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (random)")
    parser.add_argument(
        "--mode",
        choices=["positive", "negative", "both"],
        default="both",
        help="valid documents, documents with wrong or missing arguments, or both",
    )
    args = parser.parse_args()
    modes = list(GenerationMode) if args.mode == "both" else [GenerationMode(args.mode)]
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clientdesk-fuzz-")))
        console.print(f"Starting PostgreSQL and Redis in {tmp} …")
        stack.callback(stop_postgres, tmp / "postgres")
        database_url = start_postgres(tmp / "postgres")
        redis = start_redis(tmp / "redis")
        stack.callback(redis.stop)
        asyncio.run(prepare_database(database_url))
        settings = Settings(
            _env_file=None,
            database_url=database_url,
            redis_url=redis.url,
            cc_encryption_hash="fuzz-card-secret",
        )
        return campaign(settings, args.examples, seed, modes)


if __name__ == "__main__":
    sys.exit(main())
