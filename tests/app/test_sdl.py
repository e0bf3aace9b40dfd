"""The committed schema.graphql is the schema the code serves."""

from __future__ import annotations

import difflib
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from app.sdl import REGENERATE_HINT, SDL_FILE, render_sdl


def test_committed_schema_graphql_matches_the_code() -> None:
    actual = render_sdl()
    committed = SDL_FILE.read_text(encoding="utf-8")

    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            "schema.graphql (committed)",
            "the code's schema",
        )
    )
    assert actual == committed, (
        f"schema.graphql is out of date; regenerate it with `{REGENERATE_HINT}` and review "
        f"the change: it is the API contract.\n{diff}"
    )


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"

    result = CliRunner().invoke(cli, ["export-schema", "--output", str(target)])

    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == render_sdl()
    assert "interface Node" in target.read_text(encoding="utf-8")
