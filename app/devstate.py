"""What a running `clientdesk dev` shares through `var/`: that it runs, and where its services are.

`var/dev.lock` is locked (flock) for as long as a `dev` runs, so a second one can tell, and
the lock goes away with the process however it ends. `var/dev.json` holds the services' URLs
and the supervised processes' ids, so `clientdesk migrate`/`seed`/`create-staff` started
from another shell find the database without being told.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

LOCK_FILE = "dev.lock"
STATE_FILE = "dev.json"


class AlreadyRunning(RuntimeError):
    """Another `clientdesk dev` holds the lock of this var/ directory."""


@dataclass
class DevLock:
    """Held by the one `clientdesk dev` that owns the services under `var_dir`."""

    var_dir: Path
    _file: TextIO | None = None

    def acquire(self) -> DevLock:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        file = (self.var_dir / LOCK_FILE).open("a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            file.close()
            raise AlreadyRunning(holder) from None
        file.seek(0)
        file.truncate()
        file.write(f"pid {os.getpid()}")
        file.flush()
        self._file = file
        return self

    def write_state(self, state: dict[str, Any]) -> None:
        path = self.var_dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(path)  # readers never see half a file

    def release(self) -> None:
        if self._file is not None:
            (self.var_dir / STATE_FILE).unlink(missing_ok=True)
            self._file.close()  # closing drops the lock
            self._file = None


def is_running(var_dir: Path) -> bool:
    """Whether a `clientdesk dev` holds the lock of `var_dir` now."""
    path = var_dir / LOCK_FILE
    if not path.exists():
        return False
    with path.open() as file:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False  # closing the file releases the lock just taken


def running_state(var_dir: Path) -> dict[str, Any] | None:
    """The state a running `clientdesk dev` published, or None (not running, or still starting)."""
    path = var_dir / STATE_FILE
    if not is_running(var_dir) or not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state
