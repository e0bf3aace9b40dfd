"""The `clientdesk` command: dev, serve, worker, migrate, create-staff, seed."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import typer
import uvicorn
from rich.console import Console

from app import db
from app.migrate import migrate as apply_migrations
from app.settings import Settings
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff as create_staff_account
from domain.auth.staff import staff_exists
from domain.errors import DomainError

cli = typer.Typer(
    help="clientdesk: client management for hosting businesses.", no_args_is_help=True
)
console = Console()

ADMIN_EMAIL = "admin@localhost"
LOCAL_ENV = Path(".env")


def _settings(require_services: bool = True) -> Settings:
    settings = Settings()
    if require_services:
        missing = [name for name in ("database_url", "redis_url") if not getattr(settings, name)]
        if missing:
            names = ", ".join(m.upper() for m in missing)
            console.print(
                f"[red]{names} not set.[/] Set them, or run `clientdesk dev` "
                "to start private services."
            )
            raise typer.Exit(2)
    return settings


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection


async def _migrate(database_url: str) -> list[str]:
    conn = await db.connect(database_url)
    try:
        return [m.name for m in await apply_migrations(conn)]
    finally:
        await conn.close()


@cli.command()
def migrate(
    dump_schema: bool = typer.Option(
        False,
        "--dump-schema",
        help="Then write the migrated schema to migrations/schema.sql (after adding a "
        "migration). Without DATABASE_URL it uses the embedded PostgreSQL of `clientdesk dev`.",
    ),
) -> None:
    """Apply pending database migrations."""
    if dump_schema:
        settings = Settings()  # only the database is needed
        if not settings.database_url:
            from app.devservices import start_postgres

            url = start_postgres(settings.var_dir / "postgres")
            settings = settings.model_copy(update={"database_url": url})
    else:
        settings = _settings()
    applied = asyncio.run(_migrate(settings.database_url))
    for name in applied:
        console.print(f"applied [bold]{name}[/]")
    console.print(f"{len(applied)} migration(s) applied; the database is up to date.")
    if dump_schema:
        from app.schema_dump import SCHEMA_FILE, dump_schema

        SCHEMA_FILE.write_text(asyncio.run(dump_schema(settings.database_url)), encoding="utf-8")
        console.print(f"wrote {SCHEMA_FILE}")


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
) -> None:
    """Create a staff account."""
    settings = _settings()

    async def run() -> None:
        conn = await db.connect(settings.database_url)
        try:
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
) -> None:
    """Add realistic demo clients (password of each: demo-password)."""
    from app.seed import DEMO_PASSWORD, seed_clients_with_progress

    settings = _settings()

    async def run() -> int:
        conn = await db.connect(settings.database_url)
        try:
            return await seed_clients_with_progress(
                conn, clients, console=console, seed=random_seed
            )
        finally:
            await conn.close()

    added = asyncio.run(run())
    console.print(f"Added {added} clients. Each can log in with password '{DEMO_PASSWORD}'.")


@cli.command()
def serve(
    workers: int = typer.Option(1, help="uvicorn worker processes (the work is CPU-bound)."),
) -> None:
    """Serve the API (no embedded services: DATABASE_URL and REDIS_URL must be set)."""
    settings = _settings()
    uvicorn.run(
        "app.main:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )


@cli.command()
def worker(burst: bool = typer.Option(False, help="Run queued jobs, then exit.")) -> None:
    """Run an arq worker: sends email and runs the periodic automation."""
    from app.worker import build_worker

    _configure_logging()
    build_worker(_settings(), burst=burst).run()


def _ensure_local_secret(name: str, env: dict[str, str]) -> str:
    """A secret from the environment, else generated once into the git-ignored .env."""
    if os.environ.get(name):
        return os.environ[name]
    if name in env:
        return env[name]
    value = secrets.token_urlsafe(32)
    with LOCAL_ENV.open("a") as file:
        file.write(f"{name}={value}\n")
    env[name] = value
    return value


def _read_local_env() -> dict[str, str]:
    if not LOCAL_ENV.exists():
        return {}
    pairs = (line.split("=", 1) for line in LOCAL_ENV.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


@cli.command()
def dev() -> None:
    """Start everything for development: services, migrations, admin, API and a worker."""
    from app.devservices import MailSink, start_postgres, start_redis, stop_postgres

    _configure_logging()
    local_env = _read_local_env()
    cc_secret = _ensure_local_secret("CC_ENCRYPTION_HASH", local_env)
    _ensure_local_secret("INBOUND_EMAIL_SECRET", local_env)
    settings = Settings()
    var = settings.var_dir
    redis_server = mail_sink = None
    embedded_postgres = not settings.database_url
    if embedded_postgres:
        console.print("Starting PostgreSQL (embedded) …")
        os.environ["DATABASE_URL"] = start_postgres(var / "postgres")
    if not settings.redis_url:
        console.print("Starting Redis …")
        redis_server = start_redis(var / "redis")
        os.environ["REDIS_URL"] = redis_server.url
    if not settings.smtp_url:
        mail_sink = MailSink(directory=settings.mail_dir).start()
        os.environ["SMTP_URL"] = mail_sink.url
        console.print(f"Mail is written to [bold]{settings.mail_dir}/[/] as .eml files.")
    settings = Settings()

    # uvicorn re-raises the signal that stopped it; make SIGTERM unwind like Ctrl-C so the
    # services started here are stopped by the `finally` below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    worker_process: subprocess.Popen[bytes] | None = None
    try:
        for name in asyncio.run(_migrate(settings.database_url)):
            console.print(f"applied migration {name}")
        admin_password = asyncio.run(_ensure_admin(settings, local_env))
        worker_process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], env=os.environ.copy()
        )
        url = f"http://{settings.host}:{settings.port}/graphql"
        console.rule("clientdesk is running")
        console.print(f"GraphiQL:  [bold]{url}[/]")
        console.print(f"Staff:     {ADMIN_EMAIL} / {admin_password}")
        console.print(f"Card secret (CC_ENCRYPTION_HASH): {cc_secret}")
        console.print("Stop with Ctrl-C.")
        uvicorn.run(
            "app.main:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            log_level="info",
        )
    finally:
        if worker_process is not None:
            worker_process.send_signal(signal.SIGINT)
            try:
                worker_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker_process.kill()
        if redis_server is not None:
            redis_server.stop()
        if mail_sink is not None:
            mail_sink.stop()
        if embedded_postgres:
            stop_postgres(var / "postgres")


async def _ensure_admin(settings: Settings, local_env: dict[str, str]) -> str:
    """Create admin@localhost on first start; return the password to show."""
    conn = await db.connect(settings.database_url)
    try:
        if await staff_exists(conn, ADMIN_EMAIL):
            return os.environ.get(
                "CLIENTDESK_ADMIN_PASSWORD",
                local_env.get("CLIENTDESK_ADMIN_PASSWORD", "(as set when it was created)"),
            )
        password = _ensure_local_secret("CLIENTDESK_ADMIN_PASSWORD", local_env)
        await create_staff_account(
            conn,
            email=ADMIN_EMAIL,
            password=password,
            first_name="Admin",
            last_name="User",
            role=StaffRole.ADMIN,
        )
        console.print(f"Created staff account {ADMIN_EMAIL}.")
        return password
    finally:
        await conn.close()


@cli.command("rotate-card-key")
def rotate_card_key(
    generate: bool = typer.Option(
        False, "--generate", help="Only print a new key to put first in CARD_ENCRYPTION_KEYS."
    ),
) -> None:
    """Re-encrypt every stored card under the newest key of CARD_ENCRYPTION_KEYS.

    Rotation in two steps, so no card is ever encrypted under a key that is not configured:
    `--generate` prints a new key; add it to CARD_ENCRYPTION_KEYS (keep the old ones) and
    restart; then run this command; then the old keys may be removed."""
    from rich.progress import Progress

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

    async def run() -> int:
        pool = await db.create_pool(settings.database_url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                total = await cards_to_rotate(conn, keyring)
            with Progress(console=console) as progress:
                task = progress.add_task("Re-encrypting cards", total=total)
                return await rotate_card_keys(
                    pool, keyring, on_batch=lambda n: progress.advance(task, n)
                )
        finally:
            await pool.close()

    try:
        rotated = asyncio.run(run())
    except CardKeyError as error:
        console.print(f"[red]{error}[/] No card after the last completed batch was changed.")
        raise typer.Exit(1) from None
    console.print(
        f"{rotated} card(s) re-encrypted under key version {keyring.current_version}; "
        "older keys are no longer needed."
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
