"""Importing rows from another system's CSV export: what every kind of import shares.

All or nothing: every row is checked first, and one bad row imports none, its line and
column named. Then the rows go in batches, set-wise, in one transaction. A row already present
(by its kind's key, an email address) is left as it is, so running the same file again adds
nothing. A kind of import (clients, contacts) says which columns it reads, how a row is
checked, which rows are new and how they are stored.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

import asyncpg

from domain.errors import ErrorCode
from domain.validation import InputCheck

BATCH = 5000
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class RowError:
    """What is wrong with one cell: `line` is the file's line number (the header is line 1)."""

    line: int
    column: str | None
    message: str


@dataclass
class ImportResult:
    """What an import did, or, dry, would do."""

    imported: int = 0
    already_present: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """A checked row: its line in the file and its values, by field name."""

    line: int
    values: dict[str, Any]


class ImportKind(Protocol):
    """What one kind of import knows; `run_import` does the rest. A kind subclasses it,
    to inherit the default check."""

    @property
    def columns(self) -> Mapping[str, str]:
        """Each CSV column read (lower case) and the field it fills."""

    @property
    def required(self) -> tuple[str, ...]:
        """The fields a file must have a column for."""

    def clean(self, check: InputCheck, cells: dict[str, str]) -> dict[str, Any]:
        """A row's values from its cells (by field), each problem noted in `check`."""

    def key(self, values: Mapping[str, Any]) -> str:
        """What makes a row the same as another: twice in one file is refused."""

    async def check_against_database(
        self, conn: asyncpg.Connection, rows: Sequence[Row], fail: Callable[[Row, str, str], None]
    ) -> None:
        """Refuse, with `fail(row, field, message)`, rows the database rules out; by default
        none (a row already present is not an error: it is left as it is)."""
        return None

    async def new_rows(
        self, conn: asyncpg.Connection, batch: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The rows of `batch` not yet present."""

    async def store(
        self,
        conn: asyncpg.Connection,
        rows: list[dict[str, Any]],
        staff_id: int | None,
        source_name: str,
    ) -> None:
        """Add the new rows, set-wise, audited with the file's name."""


def boolean_cell(check: InputCheck, name: str, text: str) -> bool:
    """A yes/no cell: 1/0, true/false, yes/no, on/off, or empty for no."""
    value = text.strip().lower()
    if value not in _TRUE | _FALSE:
        check.fail(name, ErrorCode.INVALID, f"'{text}' is not a yes or no (1/0, true/false).")
    return value in _TRUE


def _fields_of(
    columns: Mapping[str, str], header: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """The columns read (column -> field) and those ignored, of a CSV header."""
    read: dict[str, str] = {}
    ignored: list[str] = []
    for column in header:
        target = columns.get(column.strip().lower())
        if target is None or target in read.values():
            ignored.append(column)
        else:
            read[column] = target
    return read, ignored


def _read_rows(
    source: TextIO,
    kind: ImportKind,
    result: ImportResult,
    on_progress: Callable[[str, int], None],
) -> tuple[list[Row], dict[str, str]]:
    """The file's rows that passed their checks, and the column of each field read; each
    problem goes to `result.errors` naming its line and the column as the file spells it,
    and a row twice in the file is refused too."""
    reader = csv.DictReader(source)
    columns, result.ignored_columns = _fields_of(kind.columns, reader.fieldnames or ())
    column_of = {target: column for column, target in columns.items()}
    missing = [name for name in kind.required if name not in column_of]
    if missing:
        result.errors.append(RowError(1, None, f"No column for {', '.join(missing)}."))
        return [], column_of
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        check = InputCheck()
        values = kind.clean(check, {target: row.get(c) or "" for c, target in columns.items()})
        key = kind.key(values)
        if key in seen:
            email = values.get("email")
            check.fail("email", ErrorCode.CONFLICT, f"{email} is on line {seen[key]} too.")
        seen.setdefault(key, line)
        for error in check.errors:
            result.errors.append(RowError(line, column_of.get(error.field or ""), error.message))
        if not check.errors:
            rows.append(Row(line, values))
            if len(rows) % BATCH == 0:
                on_progress("checked", BATCH)
    on_progress("checked", len(rows) % BATCH)
    return rows, column_of


async def run_import(
    conn: asyncpg.Connection,
    source: TextIO,
    kind: ImportKind,
    *,
    source_name: str,
    staff_id: int | None = None,
    dry_run: bool = False,
    on_progress: Callable[[str, int], None] = lambda stage, rows: None,
) -> ImportResult:
    """Check every row of `source`; unless one fails (or `dry_run`), add the new rows in one
    transaction. `on_progress(stage, n)` hears of each n rows "checked", then "stored"."""
    result = ImportResult()
    rows, column_of = _read_rows(source, kind, result, on_progress)

    def fail(row: Row, name: str, message: str) -> None:
        result.errors.append(RowError(row.line, column_of.get(name, name), message))

    await kind.check_against_database(conn, rows, fail)
    if result.errors:
        result.errors.sort(key=lambda error: error.line)
        return result
    transaction = conn.transaction()
    await transaction.start()
    try:
        for start in range(0, len(rows), BATCH):
            batch = [row.values for row in rows[start : start + BATCH]]
            new = await kind.new_rows(conn, batch)
            result.already_present += len(batch) - len(new)
            if new:
                await kind.store(conn, new, staff_id, source_name)
                result.imported += len(new)
            on_progress("stored", len(batch))
    except BaseException:
        await transaction.rollback()
        raise
    if dry_run:
        await transaction.rollback()
    else:
        await transaction.commit()
    return result
