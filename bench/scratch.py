"""What the single-server benchmarks (login_load, reset_timing) and ab_compare share: a
temporary directory with its own PostgreSQL and Redis, the API served from it in production
mode, and the same ending however the run ends (Ctrl-C, SIGTERM, an error): everything
stopped and removed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from app.devservices import start_postgres, start_redis, stop_postgres
from bench.harness import Server, sigterm_as_exit, start_server


@dataclass(frozen=True)
class Served:
    server: Server
    redis_url: str


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str


def start_services(
    stack: contextlib.ExitStack,
    tmp: Path,
    console: Console,
    prepare: Callable[[str], Coroutine[Any, Any, None]],
) -> Services:
    """PostgreSQL and Redis in `tmp`, the database `prepare`d; both stopped by `stack`."""
    console.print(f"Starting PostgreSQL and Redis in {tmp} …")
    pg_dir = tmp / "postgres"
    stack.callback(stop_postgres, pg_dir)
    database_url = start_postgres(pg_dir)
    redis = start_redis(tmp / "redis")
    stack.callback(redis.stop)
    asyncio.run(prepare(database_url))
    return Services(database_url, redis.url)


def serve_graphql(
    stack: contextlib.ExitStack,
    tmp: Path,
    console: Console,
    prepare: Callable[[str], Coroutine[Any, Any, None]],
    settings: dict[str, str] | None = None,
) -> Served:
    """`start_services`, and the API serving its database with `settings` (environment
    names) on top of production's; all stopped by `stack`."""
    services = start_services(stack, tmp, console, prepare)
    env = {
        **os.environ,
        "DATABASE_URL": services.database_url,
        "REDIS_URL": services.redis_url,
        "ENVIRONMENT": "production",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        **(settings or {}),
    }
    server = start_server("graphql", "app.main:create_app_from_env", "/graphql", env, tmp)
    stack.callback(server.stop)
    return Served(server, services.redis_url)


def run_in_scratch(run: Callable[[contextlib.ExitStack, Path], int], console: Console) -> int:
    """`run(stack, tmp)`'s exit status; 130 on Ctrl-C, 1 on a RuntimeError (printed)."""
    tmp = Path(tempfile.mkdtemp(prefix="clientdesk-bench-"))
    status = 1
    with sigterm_as_exit():
        try:
            with contextlib.ExitStack() as stack:
                status = run(stack, tmp)
        except KeyboardInterrupt:
            console.print("[yellow]Interrupted; stopped the server.[/]")
            status = 130
        except RuntimeError as error:
            console.print(f"[red]{error}[/]")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return status
