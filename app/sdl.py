"""The committed `schema.graphql`: the GraphQL schema as SDL, the API's complete contract.

Client code generators and reviewers read it; a test fails when it and the code disagree.
Regenerate it with `make schema` (`clientdesk export-schema`) after changing the API.
"""

from __future__ import annotations

from pathlib import Path

from app.graphql import build_schema
from app.settings import Settings

SDL_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
REGENERATE_HINT = "make schema (clientdesk export-schema)"


def render_sdl() -> str:
    """The schema the code serves, as SDL (the same in every environment)."""
    return build_schema(Settings(_env_file=None)).as_str() + "\n"
