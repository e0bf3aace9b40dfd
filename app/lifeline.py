"""A supervised process ends with its supervisor, however the supervisor ends.

`clientdesk dev` stops its children when it is stopped (SIGINT, SIGTERM, SIGHUP), but a
supervisor killed outright (SIGKILL, the OOM killer) runs no code: its API and worker would
live on as orphans, holding the port and answering with connection errors once PostgreSQL
is gone. On Linux a child asks the kernel for SIGTERM when its parent dies
(PR_SET_PDEATHSIG); elsewhere only the supervisor's own stopping applies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

# The supervisor's pid, set in a child's environment by app/supervisor.py.
SUPERVISOR_PID = "CLIENTDESK_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def end_with_supervisor() -> None:
    """In a supervised process: be sent SIGTERM when the supervisor dies (Linux)."""
    expected = os.environ.get(SUPERVISOR_PID)
    if not expected or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    # The supervisor may have died before the request was made: then nothing will come.
    if os.getppid() != int(expected):
        os.kill(os.getpid(), signal.SIGTERM)
