"""SPEC 8.2 at volume: many emails handed over at once, SMTP connections kept and renewed,
and the worker's concurrency from the settings, still sending each email once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from arq import create_pool as create_arq_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name

from app.devservices import free_port
from app.settings import Settings
from app.worker import build_worker
from domain.emails.message import OutgoingMessage
from domain.emails.outbox import Attempt
from tests.conftest import Services
from tests.workers.test_email import email_rows, queue_sample_email
from workers.email import EMAILS_PER_JOB, enqueue_attempts, enqueue_emails, handed_over_key
from workers.mailer import Mailer


class PeerCountingSink:
    """A real SMTP server that notes which connection each message came on, and can hang up
    right after accepting one."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.peers: list[Any] = []
        self.hang_up_after_next = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        self.peers.append(session.peer)
        if self.hang_up_after_next:
            self.hang_up_after_next = False
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 Message accepted"


@pytest.fixture
def sink() -> Iterator[tuple[PeerCountingSink, str]]:
    handler = PeerCountingSink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, f"smtp://127.0.0.1:{port}"
    controller.stop()


@pytest.fixture
async def arq_redis(settings: Settings) -> AsyncIterator[ArqRedis]:
    redis = await create_arq_pool(RedisSettings.from_dsn(settings.redis_url))
    yield redis
    await redis.aclose()


def message(number: int) -> OutgoingMessage:
    to = f"reader{number}@example.com"
    data = f"From: billing@example.com\r\nTo: {to}\r\nSubject: Message {number}\r\n\r\nHello\r\n"
    return OutgoingMessage("billing@example.com", (to,), data.encode())


async def test_8_2_mailer_sends_many_messages_on_one_kept_connection(
    sink: tuple[PeerCountingSink, str],
) -> None:
    handler, url = sink
    mailer = Mailer.from_url(url, connections=2)
    try:
        for number in range(5):
            await mailer.send(message(number))
    finally:
        await mailer.close()
    assert [m["Subject"] for m in handler.messages] == [f"Message {n}" for n in range(5)]
    assert len(set(handler.peers)) == 1


async def test_8_2_mailer_opens_at_most_its_connections_for_concurrent_messages(
    sink: tuple[PeerCountingSink, str],
) -> None:
    handler, url = sink
    mailer = Mailer.from_url(url, connections=3)
    try:
        await asyncio.gather(*(mailer.send(message(number)) for number in range(12)))
    finally:
        await mailer.close()
    assert len(handler.messages) == 12
    assert 1 <= len(set(handler.peers)) <= 3


async def test_8_2_mailer_reconnects_when_the_server_dropped_its_connection(
    sink: tuple[PeerCountingSink, str],
) -> None:
    handler, url = sink
    mailer = Mailer.from_url(url)
    handler.hang_up_after_next = True
    try:
        await mailer.send(message(1))
        await asyncio.sleep(0.1)  # the hang-up reaches the idle connection
        await mailer.send(message(2))
    finally:
        await mailer.close()
    assert [m["Subject"] for m in handler.messages] == ["Message 1", "Message 2"]
    assert len(set(handler.peers)) == 2


async def test_8_2_many_emails_are_handed_over_in_batches_each_attempt_once(
    conn, arq_redis: ArqRedis
) -> None:
    ids = [await queue_sample_email(conn, f"reader{n}@example.com") for n in range(3)]
    attempts = [Attempt(email_id, 1) for email_id in ids]

    assert await enqueue_attempts(arq_redis, attempts) == 3
    assert await arq_redis.zcard(default_queue_name) == 1  # one job for the three
    # Handing the same attempts over again (the relay racing the API) queues nothing more.
    assert await enqueue_attempts(arq_redis, attempts) == 0
    assert await enqueue_attempts(arq_redis, [*attempts, Attempt(ids[0], 2)]) == 1
    assert await arq_redis.zcard(default_queue_name) == 2
    for attempt in [*attempts, Attempt(ids[0], 2)]:
        assert await arq_redis.exists(handed_over_key(attempt))

    # A burst is cut into jobs of EMAILS_PER_JOB attempts.
    burst = [Attempt(email_id, 1) for email_id in range(10_000, 10_000 + 2 * EMAILS_PER_JOB + 1)]
    assert await enqueue_attempts(arq_redis, burst) == len(burst)
    assert await arq_redis.zcard(default_queue_name) == 2 + 3


async def test_8_2_a_batch_handed_over_is_sent_once_by_a_worker_from_the_settings(
    conn, services: Services, settings: Settings, arq_redis: ArqRedis
) -> None:
    ids = [await queue_sample_email(conn, f"reader{n}@example.com") for n in range(20)]
    await enqueue_emails(arq_redis, ids)
    await enqueue_emails(arq_redis, ids)
    configured = settings.model_copy(
        update={"worker_max_jobs": 7, "worker_poll_delay_seconds": 0.02, "smtp_connections": 2}
    )
    worker = build_worker(configured, burst=True, handle_signals=False)
    assert (worker.max_jobs, worker.poll_delay_s) == (7, 0.02)
    try:
        await worker.main()
    finally:
        await worker.close()

    rows = await email_rows(conn)
    assert all(row["sent_at"] is not None and row["attempts"] == 1 for row in rows)
    sent_to = sorted(m["To"] for m in services.mail.messages)
    assert sent_to == sorted(f"reader{n}@example.com" for n in range(20))
