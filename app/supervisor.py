"""Keeps the processes of `clientdesk dev` (the API and a worker) running.

A process that exits while it should be running is started again: at once the first time,
then after a pause that doubles (up to `MAX_PAUSE`) while it keeps dying within `STABLE`
seconds, so a process that cannot start does not spin.

Each child has a process group of its own, so a signal to the supervisor's group does not
reach it: the supervisor must stop it, and on Linux the kernel stops it too (SIGTERM, by
`PR_SET_PDEATHSIG`) when the supervisor dies without a chance to (SIGKILL, a crash).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("clientdesk.supervisor")

STABLE = 10.0
MAX_PAUSE = 30.0
POLL = 0.2
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def stop_with(supervisor: int) -> Callable[[], None] | None:
    """What a child runs (between fork and exec, or first thing), on Linux: ask for a
    SIGTERM when the supervisor dies. It only calls functions looked up before the fork, as
    code in a forked child of a process with threads (the mail sink's) must."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None).prctl
    getppid, kill, pid = os.getppid, os.kill, os.getpid

    def prepare() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if getppid() != supervisor:  # it died before prctl took effect
            kill(pid(), signal.SIGTERM)

    return prepare


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    pause: float = 0.0
    restart_at: float | None = None

    def start(self) -> None:
        # A process group of its own: Ctrl-C reaches the supervisor only, which then stops
        # the children in order instead of racing their restarts.
        # A signal that stops the supervisor between the fork and the assignment leaves the
        # child unrecorded: the kernel's SIGTERM still stops it when the supervisor exits.
        self.process = subprocess.Popen(  # noqa: S603
            self.command,
            env=self.env,
            process_group=0,
            preexec_fn=stop_with(os.getpid()),
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Supervisor:
    children: list[Child]
    on_change: Callable[[dict[str, int]], None] = lambda pids: None

    def pids(self) -> dict[str, int]:
        return {c.name: c.process.pid for c in self.children if c.process is not None}

    def start(self) -> None:
        for child in self.children:
            child.start()
        self.on_change(self.pids())

    def run(self) -> None:
        """Watch the children until interrupted (KeyboardInterrupt, SystemExit)."""
        while True:
            time.sleep(POLL)
            self.check()

    def check(self) -> None:
        """Restart what has died, once its pause is over."""
        now = time.monotonic()
        changed = False
        for child in self.children:
            if child.process is None or child.process.poll() is None:
                continue
            if child.restart_at is None:
                lived = now - child.started_at
                child.pause = 0.0 if lived >= STABLE else min(MAX_PAUSE, max(1.0, child.pause * 2))
                child.restart_at = now + child.pause
                log.warning(
                    "%s exited with code %s; starting it again in %.0f s",
                    child.name,
                    child.process.returncode,
                    child.pause,
                )
            if now >= child.restart_at:
                child.start()
                changed = True
        if changed:
            self.on_change(self.pids())

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
