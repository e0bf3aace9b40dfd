"""The `clientdesk` command: dev, serve, worker, create-staff, seed, export-schema, rotate-card-key;
the database's commands (migrate, backup, restore) come from app/cli_database.py, move-files
from app/cli_files.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import typer

from app import db
from app.cli_database import database_cli
from app.cli_files import files_cli
from app.cli_import import import_cli
from app.cli_support import command_settings, console
from app.logs import configure_logging
from app.settings import Settings
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff as create_staff_account
from domain.auth.staff import set_staff_password, staff_exists
from domain.errors import DomainError
from domain.validation import normalize_email

cli = typer.Typer(
    help="clientdesk: client management for hosting businesses.", no_args_is_help=True
)
cli.add_typer(database_cli)
cli.add_typer(files_cli)
cli.add_typer(import_cli, name="import")


def _configure_logging() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)


def _share_metrics_between_processes() -> None:
    """Let /metrics of any uvicorn worker report every worker process (app/metrics.py)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="clientdesk-metrics-")


@cli.command("export-schema")
def export_schema(
    output: Path = typer.Option(
        Path("schema.graphql"),
        help="Where to write the SDL (in a checkout's folder: the committed schema.graphql).",
    ),
) -> None:
    """Write the GraphQL schema as SDL (the API contract, schema.graphql)."""
    from app.sdl import render_sdl

    # Relative to where it runs, never to the code: an installed package's folder is
    # site-packages.
    output.write_text(render_sdl(), encoding="utf-8")
    console.print(f"wrote {output}")


@cli.command("create-staff")
def create_staff(
    email: str = typer.Option(..., help="Login email of the staff member."),
    first_name: str = typer.Option("Admin", help="First name."),
    last_name: str = typer.Option("User", help="Last name."),
    role: StaffRole = typer.Option(StaffRole.ADMIN, help="Role: what the member may do."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="CLIENTDESK_STAFF_PASSWORD",
        help="Password (prompted when not given).",
    ),
    reset: bool = typer.Option(
        False,
        "--reset",
        help="When the address is a staff member's already, give it this password instead "
        "(its sessions end); names and role stay as they are.",
    ),
) -> None:
    """Create a staff account, or with --reset set an existing member's password."""
    settings = command_settings(needs=("database_url",))

    async def run() -> None:
        conn = await db.connect(settings.database_url)
        try:
            if reset and await staff_exists(conn, normalize_email(email)):
                await set_staff_password(conn, normalize_email(email), password)
                console.print(f"Set a new password for staff member {normalize_email(email)}.")
                return
            staff = await create_staff_account(
                conn,
                email=email,
                password=password,
                first_name=first_name,
                last_name=last_name,
                role=role,
            )
        finally:
            await conn.close()
        console.print(f"Created {staff.role.value} staff member {staff.email} (id {staff.id}).")

    try:
        asyncio.run(run())
    except DomainError as error:
        for e in error.errors:
            console.print(f"[red]{e.field or 'error'}:[/] {e.message}")
        raise typer.Exit(1) from None


@cli.command()
def seed(
    clients: int = typer.Option(1000, "--clients", min=1, help="How many demo clients to add."),
    random_seed: int | None = typer.Option(None, "--seed", help="Make the data reproducible."),
    billing: bool = typer.Option(
        False,
        "--billing",
        help="Also give the new clients services (nine in ten, a tenth due within 14 days) "
        "and one unpaid invoice each on average.",
    ),
) -> None:
    """Add realistic demo clients (password of each: demo-password)."""
    from datetime import date

    from app.seed import DEMO_PASSWORD, seed_clients_with_progress, seed_services_and_invoices

    settings = command_settings(needs=("database_url",))

    async def run() -> int:
        conn = await db.connect(settings.database_url)
        try:
            before = await conn.fetchval("SELECT coalesce(max(id), 0) FROM clients")
            added = await seed_clients_with_progress(
                conn, clients, console=console, seed=random_seed
            )
            if billing:
                with console.status("Adding services and invoices …"):
                    made = await seed_services_and_invoices(
                        conn,
                        due=added // 10,
                        invoices=added,
                        as_of=date.today(),
                        after_client_id=before,
                    )
                console.print(f"Added {made.services} services and {made.invoices} invoices.")
            # A list's total beyond 1,000 is the planner's estimate (SPEC 1.8): with the new
            # rows' statistics now, not when autovacuum next looks (up to a minute later).
            with console.status("Updating the planner's statistics …"):
                await conn.execute("ANALYZE logins, clients, services, invoices")
            return added
        finally:
            await conn.close()

    added = asyncio.run(run())
    console.print(f"Added {added} clients. Each can log in with password '{DEMO_PASSWORD}'.")


@cli.command()
def serve(
    workers: int = typer.Option(
        0, help="uvicorn worker processes (the work is CPU-bound) [default: one per core]."
    ),
    host: str | None = typer.Option(None, help="Address to listen on [default: HOST]."),
    port: int | None = typer.Option(None, help="Port to listen on [default: PORT]."),
) -> None:
    """Serve the API (no embedded services: DATABASE_URL and REDIS_URL must be set)."""
    from app.server import serve as run_server
    from app.server import server_config, startup_problem, usable_cores

    settings = command_settings()
    workers = workers or usable_cores()
    listen = {"host": host, "port": port}
    settings = settings.model_copy(update={k: v for k, v in listen.items() if v is not None})
    problem = startup_problem(settings)
    if problem:
        typer.echo(f"clientdesk serve: {problem}", err=True)
        raise typer.Exit(2)
    if workers > 1:
        _share_metrics_between_processes()
    _configure_logging()
    if not run_server(server_config(settings, workers=workers)):
        raise typer.Exit(1)


@cli.command()
def worker(
    burst: bool = typer.Option(False, help="Run queued jobs, then exit."),
    check: bool = typer.Option(
        False, "--check", help="Exit 0 if this host's worker is running, else 1 (health checks)."
    ),
) -> None:
    """Run an arq worker: sends email and runs the periodic automation.

    It rides out Redis and PostgreSQL outages (reconnecting with a backoff) and stops on
    SIGINT or SIGTERM."""
    from prometheus_client import start_http_server

    from app.worker import run_worker, worker_is_healthy

    _configure_logging()
    if check:
        healthy = asyncio.run(worker_is_healthy(command_settings(needs=("redis_url",))))
        raise typer.Exit(0 if healthy else 1)
    settings = command_settings(needs=("database_url", "redis_url", "smtp_url"))
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr=settings.host)
    with contextlib.suppress(asyncio.CancelledError):
        _event_loop_runner()(run_worker(settings, burst=burst))


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop where uvicorn[standard] installed it (Linux, macOS): the worker spends a
    good part of each email in the event loop and its sockets."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


@cli.command()
def dev() -> None:
    """Start everything for development: services, migrations, admin, API and a worker."""
    from app.dev import run_dev

    _configure_logging()
    raise typer.Exit(run_dev(console))


@cli.command("rotate-card-key")
def rotate_card_key(
    generate: bool = typer.Option(
        False, "--generate", help="Only print a new key to put first in CARD_ENCRYPTION_KEYS."
    ),
) -> None:
    """Re-encrypt every stored card and two-factor secret under the newest key of
    CARD_ENCRYPTION_KEYS.

    Rotation in two steps, so no card is ever encrypted under a key that is not configured:
    `--generate` prints a new key; add it to CARD_ENCRYPTION_KEYS (keep the old ones) and
    restart; then run this command; then the old keys may be removed."""
    from rich.progress import Progress

    from domain.auth.two_factor import rotate_totp_keys
    from domain.cards.crypto import CardKeyError, generate_key
    from domain.cards.services import cards_to_rotate, rotate_card_keys

    settings = Settings()
    try:
        keyring = settings.card_keyring()
    except CardKeyError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    if generate:
        version = keyring.current_version + 1 if keyring else 1
        console.print(generate_key(version))
        return
    if keyring is None:
        console.print("[red]CARD_ENCRYPTION_KEYS is not set.[/] Nothing can be re-encrypted.")
        raise typer.Exit(2)
    if not settings.database_url:
        console.print("[red]DATABASE_URL is not set.[/]")
        raise typer.Exit(2)

    async def run() -> tuple[int, int]:
        pool = await db.create_pool(settings.database_url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                total = await cards_to_rotate(conn, keyring)
            with Progress(console=console) as progress:
                task = progress.add_task("Re-encrypting cards", total=total)
                cards = await rotate_card_keys(
                    pool, keyring, on_batch=lambda n: progress.advance(task, n)
                )
            # One per login at most, and rarely many: one transaction does them all.
            async with pool.acquire() as conn:
                return cards, await rotate_totp_keys(conn, keyring)
        finally:
            await pool.close()

    try:
        rotated, totp_secrets = asyncio.run(run())
    except CardKeyError as error:
        console.print(f"[red]{error}[/] No card after the last completed batch was changed.")
        raise typer.Exit(1) from None
    console.print(
        f"{rotated} card(s) re-encrypted under key version {keyring.current_version}, and "
        f"{totp_secrets} two-factor secret(s); older keys are no longer needed."
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
