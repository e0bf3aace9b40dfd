"""What every `clientdesk` command shares: its console and how it finds its services."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from app.devstate import running_state
from app.settings import Settings

console = Console()


def command_settings(needs: tuple[str, ...] = ("database_url", "redis_url")) -> Settings:
    """The settings, with the services a command `needs`: from the environment, else from
    the `clientdesk dev` running in this directory.

    What came from `dev` is also put in the environment: the API's processes (uvicorn's
    app factory, its worker processes) read their settings there, not from this object."""
    settings = Settings()
    missing = [name for name in needs if not getattr(settings, name)]
    dev = running_state(settings.var_dir) if missing else None
    if dev is not None:
        found = {name: dev[name] for name in missing}
        settings = settings.model_copy(update=found)
        os.environ.update({name.upper(): value for name, value in found.items()})
        missing = []
    if missing:
        names = ", ".join(m.upper() for m in missing)
        console.print(
            f"[red]{names} not set.[/] Set {'them' if len(missing) > 1 else 'it'}, or start "
            "`make dev` (`clientdesk dev`) in this directory: commands find its services."
        )
        raise typer.Exit(2)
    return settings
