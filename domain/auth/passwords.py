"""Password hashing with argon2id (SPEC 5.1), and rehashing on login when parameters age (5.4).

Hashing and verifying cost about 0.1 s of CPU each, on purpose. They run in a small thread
pool of their own (argon2 releases the GIL), never on the event loop: there they would stall
every other request of the process for as long. The pool is bounded so that hashing can
never take every core from the requests; operations that hash are throttled per login and
per address besides (`throttle.PasswordHashThrottle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import string
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
_hasher = PasswordHasher()

# One core is left to the event loop; each hash in flight holds 64 MiB besides.
HASHING_THREADS = max(1, min(4, (os.cpu_count() or 2) - 1))
# Niceness of the hashing threads: when the CPU is short, requests go first.
HASHING_NICENESS = 10


def _yield_to_requests() -> None:
    """Lower the calling thread's CPU priority. Linux only: there a thread id names that
    thread to setpriority; elsewhere it could name an unrelated process."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


_pool = ThreadPoolExecutor(
    max_workers=HASHING_THREADS, thread_name_prefix="argon2", initializer=_yield_to_requests
)

# A hash of a random password, verified against when the account does not exist, so that a
# login for an unknown email costs the same time as one for a known email.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password_blocking(password: str) -> str:
    """Hash on the calling thread: only for code outside an event loop (scripts, fixtures)."""
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, _hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_pool, _verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def random_password(length: int = 16) -> str:
    alphabet = string.ascii_letters + string.digits + "!@#$%*-_"
    return "".join(secrets.choice(alphabet) for _ in range(length))
