"""`clientdesk import clients|contacts FILE.csv`: a company's clients and their contacts from
the system it leaves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from app import db
from app.cli_support import command_settings, console
from domain.clients.imports import import_clients
from domain.contacts.imports import import_contacts
from domain.imports import ImportResult

import_cli = typer.Typer(help="Import from another system's CSV export (README 'Imports').")
# How many of a failed file's errors are printed; the count says how many there are.
ERRORS_SHOWN = 50


def _data_lines(path: Path) -> int:
    """About how many rows the file has (lines less the header), for the progress bar."""
    with path.open("rb") as file:
        return max(sum(1 for _ in file) - 1, 0)


FILE = typer.Argument(..., exists=True, dir_okay=False, help="The CSV file (UTF-8).")
DRY_RUN = typer.Option(
    False, "--dry-run", help="Check every row and count what would change; change nothing."
)
Importer = Callable[..., Awaitable[ImportResult]]


@import_cli.command("clients")
def clients(file: Path = FILE, dry_run: bool = DRY_RUN) -> None:
    """Clients, one a row, with WHMCS's column names or ours; an address already present is
    left as it is, so the same file imported twice adds nothing."""
    _run(import_clients, file, dry_run, "client(s)")


@import_cli.command("contacts")
def contacts(file: Path = FILE, dry_run: bool = DRY_RUN) -> None:
    """Contacts, one a row, each naming its client by the client's address (client_email);
    a contact the client already has at that address is left as it is."""
    _run(import_contacts, file, dry_run, "contact(s)")


def _run(importer: Importer, file: Path, dry_run: bool, what: str) -> None:
    settings = command_settings(needs=("database_url",))
    total = _data_lines(file)

    async def run(progress: Progress) -> ImportResult:
        tasks = {stage: progress.add_task(stage, total=total) for stage in ("checked", "stored")}
        conn = await db.connect(settings.database_url)
        try:
            with file.open(encoding="utf-8-sig", newline="") as source:
                return await importer(
                    conn,
                    source,
                    source_name=file.name,
                    dry_run=dry_run,
                    on_progress=lambda stage, rows: progress.advance(tasks[stage], rows),
                )
        finally:
            await conn.close()

    started = time.monotonic()
    columns = (TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        result = asyncio.run(run(progress))
    seconds = time.monotonic() - started
    if result.ignored_columns:
        console.print(f"ignored columns: {', '.join(result.ignored_columns)}")
    if result.errors:
        for error in result.errors[:ERRORS_SHOWN]:
            where = f"line {error.line}" + (f", {error.column}" if error.column else "")
            console.print(f"[red]{where}:[/] {error.message}")
        more = len(result.errors) - ERRORS_SHOWN
        if more > 0:
            console.print(f"… and {more} more.")
        console.print(f"[red]{len(result.errors)} error(s): nothing was imported.[/]")
        raise typer.Exit(1)
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{verb} {result.imported} {what}; {result.already_present} already present "
        f"(by email), left as they are; {seconds:.1f} s."
    )
