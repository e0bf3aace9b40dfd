"""The committed schema.graphql is the schema the code serves."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from graphql import parse, validate
from typer.testing import CliRunner

from app.cli import cli
from app.graphql import build_schema
from app.sdl import REGENERATE_HINT, SDL_FILE, render_sdl
from app.settings import Settings


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


def test_readme_examples_are_valid_operations_of_the_schema() -> None:
    """The README's GraphQL examples are what newcomers paste first: they must still run, and
    take ids as variables (ids are opaque: nobody can type one in)."""
    readme = (SDL_FILE.parent / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r"```graphql\n(.*?)```", readme, flags=re.DOTALL)
    schema = build_schema(Settings(_env_file=None))._schema

    assert len(examples) >= 3
    for example in examples:
        assert validate(schema, parse(example)) == [], example
        assert not re.search(r'\b(id|\w+Id)s?: *[\["]', example), example
