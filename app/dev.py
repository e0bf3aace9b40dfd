"""`clientdesk dev`: private services, migrations, the admin account, then the API and a
worker, supervised, until Ctrl-C.

One `dev` owns a `var/` directory at a time (`app.devstate`): a second one says so and
leaves the first one's services alone.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
from rich.console import Console

from app import db
from app.devstate import AlreadyRunning, DevLock, running_state
from app.migrate import migrate
from app.settings import Settings
from app.supervisor import Child, Supervisor
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff, set_staff_password, staff_exists, staff_password_matches
from domain.cards.crypto import generate_key

ADMIN_EMAIL = "admin@localhost"
LOCAL_ENV = Path(".env")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # As uvicorn binds: a port with connections in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def read_local_env() -> dict[str, str]:
    if not LOCAL_ENV.exists():
        return {}
    pairs = (line.split("=", 1) for line in LOCAL_ENV.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def ensure_local_secret(
    name: str, env: dict[str, str], make: Callable[[], str] = lambda: secrets.token_urlsafe(32)
) -> str:
    """A secret from the environment, else generated (by `make`) once into the git-ignored
    .env."""
    if os.environ.get(name):
        return os.environ[name]
    if name in env:
        return env[name]
    value = make()
    with LOCAL_ENV.open("a") as file:
        file.write(f"{name}={value}\n")
    env[name] = value
    return value


async def ensure_admin(conn: asyncpg.Connection, password: str, console: Console) -> None:
    """Make admin@localhost exist with `password` (the configured one), so the banner is true."""
    if not await staff_exists(conn, ADMIN_EMAIL):
        await create_staff(
            conn,
            email=ADMIN_EMAIL,
            password=password,
            first_name="Admin",
            last_name="User",
            role=StaffRole.ADMIN,
        )
        console.print(f"Created staff account {ADMIN_EMAIL}.")
    elif not await staff_password_matches(conn, ADMIN_EMAIL, password):
        await set_staff_password(conn, ADMIN_EMAIL, password)
        console.print(f"Set the password of {ADMIN_EMAIL} to CLIENTDESK_ADMIN_PASSWORD.")


async def _prepare_database(database_url: str, admin_password: str, console: Console) -> None:
    conn = await db.connect(database_url)
    try:
        for migration in await migrate(conn):
            console.print(f"applied migration {migration.name}")
        # A development installation pays with the test card gateway, which installations
        # start without (migration 0035).
        await conn.execute("UPDATE payment_gateways SET enabled = true WHERE name = 'testcard'")
        await ensure_admin(conn, admin_password, console)
    finally:
        await conn.close()


def _wait_until_listening(host: str, port: int, api: Child, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and api.process is not None and api.process.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_on_signals() -> None:
    """Unwind on SIGINT, SIGTERM or SIGHUP (a closed terminal), so the `finally` blocks stop
    what this process started; a second signal does not cut that stopping short.

    Ctrl-C works even when whatever started this process ignored SIGINT (a shell's
    background job does), and so for the children."""

    def stop(signum: int, frame: object) -> None:
        for name in STOP_SIGNALS:
            signal.signal(name, signal.SIG_IGN)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        sys.exit(128 + signum)

    for name in STOP_SIGNALS:
        signal.signal(name, stop)


def run_dev(console: Console) -> int:
    """Run everything for development until interrupted; the exit status."""
    settings = Settings()
    var = settings.var_dir
    try:
        lock = DevLock(var).acquire()
    except AlreadyRunning as holder:
        state = running_state(var) or {}
        where = state.get("graphiql_url", "still starting")
        console.print(
            f"[yellow]clientdesk dev is already running here ({holder}): {where}.[/] "
            "Use that one, or stop it (Ctrl-C in its terminal) first."
        )
        return 1
    _stop_on_signals()
    try:
        if not port_is_free(settings.host, settings.port):
            console.print(
                f"[red]{settings.host}:{settings.port} is in use.[/] "
                "Stop what listens there, or choose another port: PORT=8081 make dev"
            )
            return 1
        return _run_services(settings, lock, console)
    finally:
        lock.release()


def _fresh_metrics_dir(var: Path) -> Path:
    """One metrics folder for the API and the worker, so that the API's /metrics reports the
    worker's jobs too (app/metrics.py); emptied first, as a dead process's figures would
    still count."""
    folder = var / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _run_services(settings: Settings, lock: DevLock, console: Console) -> int:
    from app.devservices import MailSink, start_postgres, start_redis, stop_postgres

    local_env = read_local_env()
    # The card secret is shown once, when it is made; after that it is only in .env.
    new_cc_secret = not (os.environ.get("CC_ENCRYPTION_HASH") or "CC_ENCRYPTION_HASH" in local_env)
    cc_secret = ensure_local_secret("CC_ENCRYPTION_HASH", local_env)
    ensure_local_secret("CARD_ENCRYPTION_KEYS", local_env, make=lambda: generate_key(1))
    ensure_local_secret("INBOUND_EMAIL_SECRET", local_env)
    admin_password = ensure_local_secret("CLIENTDESK_ADMIN_PASSWORD", local_env)
    var = settings.var_dir
    redis_server = mail_sink = None
    embedded_postgres = not settings.database_url
    try:
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
        asyncio.run(_prepare_database(settings.database_url, admin_password, console))

        url = f"http://{settings.host}:{settings.port}/graphql"
        state = {
            "pid": os.getpid(),
            "graphiql_url": url,
            "database_url": settings.database_url,
            "redis_url": settings.redis_url,
            "smtp_url": settings.smtp_url,
        }
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(_fresh_metrics_dir(var))}
        cli = [sys.executable, "-m", "app.cli"]
        listen = ["--host", settings.host, "--port", str(settings.port)]
        api = Child("api", [*cli, "serve", "--workers", "1", *listen], env)
        supervisor = Supervisor(
            [api, Child("worker", [*cli, "worker"], env)],
            on_change=lambda pids: lock.write_state({**state, "processes": pids}),
        )
        supervisor.start()
        try:
            if not _wait_until_listening(settings.host, settings.port, api):
                console.print("[red]The API did not start; see its log above.[/]")
                return 1
            console.rule("clientdesk is running")
            console.print(f"GraphiQL:  [bold]{url}[/]")
            console.print(f"Staff:     {ADMIN_EMAIL} / {admin_password}")
            if new_cc_secret:
                console.print(
                    f"Card secret (CC_ENCRYPTION_HASH, shown once; kept in .env): {cc_secret}"
                )
            else:
                console.print("Card secret: CC_ENCRYPTION_HASH in .env (or your environment)")
            console.print("Stop with Ctrl-C.")
            supervisor.run()
        except KeyboardInterrupt:
            pass
        finally:
            supervisor.stop()
        return 0
    finally:
        if redis_server is not None:
            redis_server.stop()
        if mail_sink is not None:
            mail_sink.stop()
        if embedded_postgres:
            stop_postgres(var / "postgres")
