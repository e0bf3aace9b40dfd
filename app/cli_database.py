"""The database's commands: migrate (with --status and --check), backup and restore."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from app import db
from app.cli_support import command_settings, console
from app.devstate import running_state
from app.migrate import MigrationError, load_migrations, pending_migrations
from app.migrate import migrate as apply_migrations
from app.settings import Settings

# Its commands join `clientdesk`'s own (app/cli.py adds it without a name).
database_cli = typer.Typer()


async def _migrate(database_url: str) -> list[str]:
    conn = await db.connect(database_url)
    try:
        return [m.name for m in await apply_migrations(conn)]
    finally:
        await conn.close()


@database_cli.command()
def migrate(
    dump_schema: bool = typer.Option(
        False,
        "--dump-schema",
        help="Then write the migrated schema to migrations/schema.sql (after adding a "
        "migration). Without DATABASE_URL it uses the embedded PostgreSQL of `clientdesk dev`.",
    ),
    status: bool = typer.Option(
        False, "--status", help="List the applied and the pending migrations; apply nothing."
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Exit 1 when migrations are pending (for a deployment pipeline); apply nothing.",
    ),
) -> None:
    """Apply pending database migrations."""
    if status or check:
        _report_migrations(
            command_settings(needs=("database_url",)).database_url, fail_if_pending=check
        )
        return
    settings = Settings()
    if dump_schema and not settings.database_url and running_state(settings.var_dir) is None:
        from app.devservices import start_postgres

        url = start_postgres(settings.var_dir / "postgres")
        settings = settings.model_copy(update={"database_url": url})
    else:
        settings = command_settings(needs=("database_url",))
    try:
        applied = asyncio.run(_migrate(settings.direct_database_url))  # its lock needs a session
    except MigrationError as error:
        console.print(f"[red]Migrations failed:[/] {error}")
        raise typer.Exit(1) from None
    for name in applied:
        console.print(f"applied [bold]{name}[/]")
    console.print(f"{len(applied)} migration(s) applied; the database is up to date.")
    if dump_schema:
        from app.schema_dump import SCHEMA_FILE
        from app.schema_dump import dump_schema as dump

        SCHEMA_FILE.write_text(asyncio.run(dump(settings.database_url)), encoding="utf-8")
        console.print(f"wrote {SCHEMA_FILE}")


def _report_migrations(database_url: str, *, fail_if_pending: bool) -> None:
    async def read() -> tuple[list[str], list[str]]:
        conn = await db.connect(database_url)
        try:
            migrations = load_migrations()
            pending = await pending_migrations(conn, migrations)
        finally:
            await conn.close()
        return [m.name for m in migrations if m.name not in pending], pending

    applied, pending = asyncio.run(read())
    for name in applied:
        console.print(f"[green]applied[/]  {name}")
    for name in pending:
        console.print(f"[yellow]pending[/]  {name}")
    console.print(f"{len(applied)} applied, {len(pending)} pending.")
    if pending and fail_if_pending:
        raise typer.Exit(1)


@database_cli.command()
def backup(
    output: Path = typer.Argument(..., help="The file to write (pg_dump's custom format)."),
) -> None:
    """Back up the whole database, stored files included, to one file."""
    from app.backup import BackupError
    from app.backup import backup as dump

    try:
        size = dump(command_settings(needs=("database_url",)).database_url, output)
    except BackupError as error:
        console.print(f"[red]Backup failed:[/] {error}")
        raise typer.Exit(1) from None
    console.print(f"wrote {output} ({size:,} bytes). Keep the card keys and secrets apart.")


@database_cli.command()
def restore(
    source: Path = typer.Argument(..., help="A file written by `clientdesk backup`."),
    yes: bool = typer.Option(False, "--yes", help="Replace what the database holds now."),
) -> None:
    """Replace the database with a backup, in one transaction (stop the API and workers)."""
    from app.backup import BackupError
    from app.backup import restore as load

    if not yes:
        console.print("[red]restore replaces everything in the database:[/] pass --yes")
        raise typer.Exit(2)
    try:
        load(command_settings(needs=("database_url",)).database_url, source)
    except BackupError as error:
        console.print(f"[red]Restore failed, nothing changed:[/] {error}")
        raise typer.Exit(1) from None
    console.print(f"restored {source}; run `clientdesk migrate` if it predates this version.")
