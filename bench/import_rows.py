"""`clientdesk import clients` over a large WHMCS-style file (issue 19: 100,000 rows in under
a minute), beside PostgreSQL's own COPY of the same rows into a bare table.

    python -m bench.import_rows              # 100,000 rows
    python -m bench.import_rows --rows 20000

Starts a private PostgreSQL in a temporary directory, migrates it, writes the CSV, times
the import (checking every row, then storing them set-wise), and as the yardstick times
`COPY` of the same file into an unlogged table of text columns: what reading the rows costs
before any rule is applied. Removes everything at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from app import db
from app.devservices import start_postgres, stop_postgres
from app.migrate import migrate
from bench.targets import Target, print_targets
from domain.clients.imports import import_clients

console = Console()
HEADER = "firstname,lastname,companyname,email,city,country,currency,status,credit"


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.write(HEADER + "\n")
        for n in range(rows):
            status = "Closed" if n % 10 == 0 else "Active"
            credit = f"{n % 100}.50" if n % 7 == 0 else ""
            file.write(
                f"Pat,Jones{n},Firm {n % 500},pat{n}@import.example,Leeds,GB,EUR,{status},"
                f"{credit}\n"
            )


async def measure(database_url: str, csv_path: Path) -> tuple[float, float, int]:
    conn = await db.connect(database_url)
    try:
        await migrate(conn)
        columns = ", ".join(f"{name} text" for name in HEADER.split(","))
        await conn.execute(f"CREATE UNLOGGED TABLE copied ({columns})")
        started = time.perf_counter()
        with csv_path.open("rb") as source:
            await conn.copy_to_table("copied", source=source, format="csv", header=True)
        copy_seconds = time.perf_counter() - started

        started = time.perf_counter()
        with csv_path.open(encoding="utf-8", newline="") as source:
            result = await import_clients(conn, source, source_name=csv_path.name)
        import_seconds = time.perf_counter() - started
        assert not result.errors, result.errors[:3]
        return import_seconds, copy_seconds, result.imported
    finally:
        await conn.close()


def import_target(rows: int) -> Target:
    root = Path(tempfile.mkdtemp(prefix="clientdesk-bench-import-"))
    try:
        csv_path = root / "clients.csv"
        write_csv(csv_path, rows)
        url = start_postgres(root / "postgres")
        try:
            seconds, copy_seconds, imported = asyncio.run(measure(url, csv_path))
        finally:
            stop_postgres(root / "postgres", throwaway=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    limit = 60 * rows / 100_000
    return Target(
        name=f"import {rows:,} clients (CSV)",
        goal=f"< {limit:.0f} s",
        baseline=f"COPY of the file: {copy_seconds:.2f} s",
        measured=f"{seconds:.1f} s ({imported / seconds:,.0f} rows/s, "
        f"{seconds / copy_seconds:.0f}× COPY)",
        met=seconds < limit,
    )


def targets(quick: bool) -> list[Target]:
    return [import_target(10_000 if quick else 100_000)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_rows")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    try:
        print_targets([import_target(args.rows)], console)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/]")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
