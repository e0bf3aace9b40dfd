"""`clientdesk move-files SOURCE TARGET`: client files' bytes from one store to another."""

from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from app import db
from app.cli_support import command_settings, console
from app.filestores import open_file_store
from domain.files.moving import MoveResult, files_to_move, move_files

# Its commands join `clientdesk`'s own (app/cli.py adds it without a name).
files_cli = typer.Typer()
STORES = ("postgres", "local", "s3")


def _store_kind(value: str) -> str:
    if value not in STORES:
        raise typer.BadParameter(f"one of {', '.join(STORES)}")
    return value


@files_cli.command("move-files")
def move_files_command(
    source: str = typer.Argument(..., callback=_store_kind, help="postgres, local or s3."),
    target: str = typer.Argument(..., callback=_store_kind, help="postgres, local or s3."),
    remove_source: bool = typer.Option(
        False,
        "--remove-source",
        help="Remove each file from the source once the target has it. Leave it out until "
        "every host has FILE_STORAGE set to the target (README 'File storage').",
    ),
) -> None:
    """Copy every client file's bytes the target store lacks from the source store (the
    stores as ATTACHMENTS_DIR and S3_* configure them). Safe to run again, and to stop: what
    was copied is skipped, the rest is copied."""
    settings = command_settings(needs=("database_url",))
    if source == target:
        console.print("[red]The source and the target are the same store.[/]")
        raise typer.Exit(2)

    async def run(progress: Progress) -> MoveResult:
        pool = await db.create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            async with (
                open_file_store(settings, pool, source) as from_store,
                open_file_store(settings, pool, target) as to_store,
            ):
                async with pool.acquire() as conn:
                    names = await files_to_move(conn)
                task = progress.add_task("files", total=len(names))
                return await move_files(
                    pool,
                    names,
                    from_store,
                    to_store,
                    remove_source=remove_source,
                    on_file=lambda _: progress.advance(task),
                )
        finally:
            await pool.close()

    columns = (TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        result = asyncio.run(run(progress))
    console.print(
        "; ".join(f"{count} {outcome.value}" for outcome, count in result.counts.items()) + "."
    )
    if result.missing:
        console.print(
            f"[red]{len(result.missing)} file(s) have no bytes in the {source} store[/] "
            f"(cannot be downloaded): {', '.join(result.missing[:20])}"
        )
        raise typer.Exit(1)
    console.print(f"Every file is in the {target} store.")
