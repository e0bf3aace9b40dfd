"""Sending a message over SMTP, configured by one URL.

smtp://user:pass@host:25 (plain, STARTTLS when offered), smtp+starttls://… (STARTTLS
required), smtps://…:465 (implicit TLS).

A mailer keeps up to `connections` SMTP connections open and sends each message on an idle
one, so a worker does not pay a TCP (and TLS, and login) handshake per email. A connection
that fails in any way is closed and never reused: the next message gets a fresh one. One
idle for longer than servers commonly keep it is checked with a NOOP before use, so a
connection the server dropped meanwhile costs a reconnect, not a failed attempt.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiosmtplib

from domain.emails.message import OutgoingMessage

# An idle connection older than this is checked before use (servers drop idle ones after
# a minute or more; RFC 5321 asks them to wait at least five).
CHECK_IDLE_AFTER_SECONDS = 10.0


@dataclass
class _Connections:
    """The open connections of one mailer: the idle ones and how many may be open."""

    limit: int
    idle: list[tuple[aiosmtplib.SMTP, float]] = field(default_factory=list)
    slots: asyncio.Semaphore | None = None

    def acquire_slot(self) -> asyncio.Semaphore:
        # Made on first use, inside the event loop that sends.
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.limit)
        return self.slots


@dataclass(frozen=True)
class Mailer:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None  # None: use it when the server offers it
    timeout: float = 30.0
    # How many connections may be open (and messages in flight) at once.
    connections: int = 1
    _open: _Connections = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.connections < 1:
            raise ValueError("a mailer needs at least one connection")
        object.__setattr__(self, "_open", _Connections(self.connections))

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30.0, connections: int = 1) -> Mailer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise ValueError(f"SMTP_URL must be smtp://, smtps:// or smtp+starttls://…: {url}")
        implicit_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname or "localhost",
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            start_tls=True if parts.scheme == "smtp+starttls" else None,
            timeout=timeout,
            connections=connections,
        )

    async def send(self, message: OutgoingMessage) -> None:
        """Send `message` once; any error leaves its connection closed and is raised."""
        async with self._open.acquire_slot():
            client = await self._idle_connection()
            try:
                if client is None:
                    client = self._client()
                    await client.connect()
                await client.sendmail(message.sender, message.recipients, message.data)
            except BaseException:
                if client is not None:
                    client.close()
                raise
            self._open.idle.append((client, time.monotonic()))

    async def _idle_connection(self) -> aiosmtplib.SMTP | None:
        """The most recently used open connection that still answers, if any."""
        while self._open.idle:
            client, since = self._open.idle.pop()
            if not client.is_connected:
                client.close()
                continue
            if time.monotonic() - since < CHECK_IDLE_AFTER_SECONDS:
                return client
            try:
                await client.noop()
                return client
            except (aiosmtplib.SMTPException, OSError):
                client.close()
        return None

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.timeout,
        )

    async def close(self) -> None:
        """Say goodbye on every idle connection (a worker shutting down)."""
        while self._open.idle:
            client, _ = self._open.idle.pop()
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
