"""SPEC 8.1–8.2: email templates and the transactional outbox, with real arq jobs, a real
PostgreSQL and a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from arq import Retry
from arq import create_pool as create_arq_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name
from arq.jobs import Job, JobStatus
from starlette.requests import Request
from starlette.responses import Response

from app.db import create_pool
from app.devservices import free_port
from app.settings import Settings
from app.web import create_app
from app.worker import build_worker
from domain.clients import services as client_services
from domain.emails import outbox
from domain.emails.templates import BUILTIN_DIR, TEMPLATES, EmailTemplateError, TemplateRenderer
from resolvers.context import Context
from tests.conftest import Services, gid, gql, pk
from workers.email import (
    RELAY_AFTER_SECONDS,
    WorkerResources,
    email_job_id,
    enqueue_emails,
    send_email,
)
from workers.mailer import Mailer

ADD_CLIENT = """
mutation Add($input: AddClientInput!) {
  addClient(input: $input) { client { id } errors { field code message } }
}"""

CLIENT_EMAILS = """
query Emails($id: ID!) { client(id: $id) { emails { subject to sentAt } } }"""

JOE = {"firstName": "Joe", "lastName": "Bloggs", "email": "joe@example.com", "country": "GB"}
WELCOME_SUBJECT = "Welcome, Joe: your account is ready"
ALREADY_SENT = "already sent or being sent"


async def add_client_through_api(api: Any, token: str, **fields: str) -> int:
    body = await gql(api, ADD_CLIENT, {"input": {**JOE, **fields}}, token=token)
    payload = body["data"]["addClient"]
    assert payload["errors"] == []
    return pk(payload["client"]["id"], "Client")


async def email_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, client_id, to_address, message_id, subject, body, attempts, last_error,
                  sent_at
             FROM emails ORDER BY id"""
    )


def closed_smtp_url() -> str:
    """An SMTP URL nobody listens on: connecting to it is refused, for real."""
    return f"smtp://127.0.0.1:{free_port()}"


async def run_worker_with(settings: Settings, **options: Any) -> None:
    """A real arq burst worker built from these settings."""
    worker = build_worker(settings, burst=True, handle_signals=False, poll_delay=0.05, **options)
    try:
        await worker.main()
    finally:
        await worker.close()


def job_context(resources: WorkerResources, redis: ArqRedis, job_try: int = 1) -> dict[str, Any]:
    """What arq passes an email job: the worker's resources, its Redis and the try number."""
    return {"resources": resources, "redis": redis, "job_try": job_try}


@pytest.fixture
async def arq_redis(settings: Settings) -> AsyncIterator[ArqRedis]:
    redis = await create_arq_pool(RedisSettings.from_dsn(settings.redis_url))
    yield redis
    await redis.aclose()


@pytest.fixture
def resources(settings: Settings, pool: asyncpg.Pool) -> WorkerResources:
    """The worker's resources, as `app.worker` makes them, on the test pool and mail sink."""
    return WorkerResources(
        pool=pool,
        renderer=TemplateRenderer(settings.email_templates_dir),
        mailer=Mailer.from_url(settings.smtp_url),
        mail_from=settings.mail_from,
    )


async def queue_sample_email(conn: asyncpg.Connection, to_address: str) -> int:
    """An outbox row committed on its own (autocommit), as if its enqueue had been lost."""
    return await outbox.queue_email(
        conn,
        template="client_signup",
        to_address=to_address,
        to_name=None,
        client_id=None,
        context=TEMPLATES["client_signup"].sample,
    )


# --- 8.2 the welcome email, end to end ------------------------------------------------------


async def test_8_2_add_client_welcome_email_is_sent_over_smtp_and_kept_in_the_email_log(
    api, admin_token, run_worker, services: Services, settings: Settings, conn
) -> None:
    client_id = await add_client_through_api(api, admin_token)
    [queued] = await email_rows(conn)
    assert queued["client_id"] == client_id and queued["sent_at"] is None
    # The log shows sent mail only.
    body = await gql(api, CLIENT_EMAILS, {"id": gid("Client", client_id)}, token=admin_token)
    assert body["data"]["client"]["emails"] == []

    await run_worker()

    [message] = services.mail.messages
    assert message["To"] == "Joe Bloggs <joe@example.com>"
    assert message["From"] == settings.mail_from
    assert message["Subject"] == WELCOME_SUBJECT
    assert message["Message-ID"] == queued["message_id"]
    [text] = [
        part.get_payload(decode=True).decode()
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    ]
    assert "joe@example.com" in text and f"{settings.client_area_base_url}/login" in text

    [sent] = await email_rows(conn)
    assert sent["sent_at"] is not None and sent["attempts"] == 1 and sent["last_error"] is None
    assert sent["subject"] == WELCOME_SUBJECT
    body = await gql(api, CLIENT_EMAILS, {"id": gid("Client", client_id)}, token=admin_token)
    [logged] = body["data"]["client"]["emails"]
    assert logged["subject"] == WELCOME_SUBJECT
    assert logged["to"] == "joe@example.com"
    assert logged["sentAt"] is not None


# --- 8.2 queued in the transaction of the change --------------------------------------------


@pytest.fixture
async def request_context(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Context]:
    """A request context on the real app's services (pools, Redis, hand-over to workers)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
        yield Context(
            request=request,
            response=Response(),
            services=app.state.services,
            request_id="test",
        )


async def add_joe(conn: asyncpg.Connection) -> int:
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Bloggs", "email": "joe@example.com", "country": "GB"},
        password=None,
        staff_id=None,
        send_welcome_email=True,
        client_area_url="https://clients.example.com",
    )
    return client.id


class ChangeAbandoned(Exception):
    pass


async def test_8_2_rolled_back_add_client_sends_nothing(
    request_context: Context, run_worker, services: Services, conn, arq_redis: ArqRedis
) -> None:
    with pytest.raises(ChangeAbandoned):
        async with request_context.transaction() as tx:
            await add_joe(tx)
            assert await tx.fetchval("SELECT count(*) FROM emails") == 1  # queued, uncommitted
            raise ChangeAbandoned

    assert await conn.fetchval("SELECT count(*) FROM emails") == 0
    assert await conn.fetchval("SELECT count(*) FROM clients") == 0
    assert await arq_redis.zcard(default_queue_name) == 0
    await run_worker()
    assert services.mail.messages == []


async def test_8_2_committed_change_hands_its_email_to_the_workers_after_commit(
    request_context: Context, run_worker, services: Services, conn, arq_redis: ArqRedis
) -> None:
    async with request_context.transaction() as tx:
        await add_joe(tx)
        email_id = await tx.fetchval("SELECT id FROM emails")
        # Not before commit: a worker could otherwise look for a row it cannot see yet.
        job = Job(email_job_id(email_id), arq_redis)
        assert await job.status() is JobStatus.not_found

    assert await job.status() is JobStatus.queued
    await run_worker()
    assert [m["To"] for m in services.mail.messages] == ["Joe Bloggs <joe@example.com>"]


# --- 8.2 an email marked sent is never sent again -------------------------------------------


async def test_8_2_email_job_run_twice_sends_once(
    api,
    admin_token,
    run_worker,
    services: Services,
    conn,
    arq_redis: ArqRedis,
    resources: WorkerResources,
) -> None:
    await add_client_through_api(api, admin_token)
    [row] = await email_rows(conn)
    # Enqueuing it again while it waits is a no-op: one job per email.
    await enqueue_emails(arq_redis, [row["id"]])
    assert await arq_redis.zcard(default_queue_name) == 1

    await run_worker()
    assert len(services.mail.messages) == 1
    [first] = await email_rows(conn)

    # The same job run again (a redelivery, a relay that raced the API) finds it sent.
    ctx = job_context(resources, arq_redis)
    assert await send_email(ctx, row["id"]) == ALREADY_SENT
    assert await send_email(ctx, row["id"]) == ALREADY_SENT
    await enqueue_emails(arq_redis, [row["id"]])
    await run_worker()

    assert len(services.mail.messages) == 1
    assert await email_rows(conn) == [first]
    assert first["attempts"] == 1


async def test_8_2_concurrent_runs_of_one_email_job_send_once(
    conn, services: Services, arq_redis: ArqRedis, resources: WorkerResources
) -> None:
    email_id = await queue_sample_email(conn, "joe@example.com")
    ctx = job_context(resources, arq_redis)

    results = await asyncio.gather(*(send_email(ctx, email_id) for _ in range(3)))

    assert sorted(results) == [ALREADY_SENT, ALREADY_SENT, "sent"]
    assert len(services.mail.messages) == 1
    [row] = await email_rows(conn)
    assert row["attempts"] == 1 and row["sent_at"] is not None


# --- 8.2 a crash or restart loses no email --------------------------------------------------


async def test_8_2_email_committed_but_never_enqueued_is_sent_by_the_relay(
    conn, run_worker, services: Services, arq_redis: ArqRedis
) -> None:
    lost = await queue_sample_email(conn, "lost@example.com")
    await conn.execute(
        "UPDATE emails SET created_at = now() - make_interval(secs => $2) WHERE id = $1",
        lost,
        RELAY_AFTER_SECONDS + 5,
    )
    # Just committed: its enqueue may still be on its way, so the relay leaves it alone.
    recent = await queue_sample_email(conn, "recent@example.com")
    assert await arq_redis.zcard(default_queue_name) == 0

    await run_worker()

    assert [m["To"] for m in services.mail.messages] == ["lost@example.com"]
    sent_at = {row["id"]: row["sent_at"] for row in await email_rows(conn)}
    assert sent_at[lost] is not None and sent_at[recent] is None


async def test_8_2_unreachable_smtp_keeps_the_email_unsent_and_a_later_run_sends_it_once(
    api,
    admin_token,
    settings: Settings,
    services: Services,
    conn,
    arq_redis: ArqRedis,
    resources: WorkerResources,
) -> None:
    await add_client_through_api(api, admin_token)
    [queued] = await email_rows(conn)
    job = Job(email_job_id(queued["id"]), arq_redis)

    broken_smtp = settings.model_copy(update={"smtp_url": closed_smtp_url()})
    await run_worker_with(broken_smtp, max_burst_jobs=1)

    assert services.mail.messages == []
    [failed] = await email_rows(conn)
    assert failed["sent_at"] is None
    assert failed["attempts"] == 1
    assert failed["last_error"] and "connect" in failed["last_error"].lower()
    assert failed["message_id"] == queued["message_id"]
    # The job is kept for a later try, not dropped.
    assert await job.status() is JobStatus.deferred

    # A later try with SMTP back sends it once, with the Message-ID it had from the start.
    assert await send_email(job_context(resources, arq_redis, job_try=2), queued["id"]) == "sent"
    [message] = services.mail.messages
    assert message["Message-ID"] == queued["message_id"]
    [sent] = await email_rows(conn)
    assert sent["sent_at"] is not None and sent["attempts"] == 2 and sent["last_error"] is None
    assert await send_email(job_context(resources, arq_redis, job_try=3), queued["id"]) == (
        ALREADY_SENT
    )
    assert len(services.mail.messages) == 1


async def test_8_2_unreachable_smtp_job_raises_retry_and_records_each_attempt(
    conn, services: Services, arq_redis: ArqRedis, resources: WorkerResources
) -> None:
    email_id = await queue_sample_email(conn, "joe@example.com")
    broken = WorkerResources(
        pool=resources.pool,
        renderer=resources.renderer,
        mailer=Mailer.from_url(closed_smtp_url()),
        mail_from=resources.mail_from,
    )
    for job_try in (1, 2):
        with pytest.raises(Retry):
            await send_email(job_context(broken, arq_redis, job_try), email_id)

    [row] = await email_rows(conn)
    assert row["attempts"] == 2 and row["sent_at"] is None and row["last_error"]
    assert services.mail.messages == []


class AcceptThenCrashSink:
    """A real SMTP server that, on its first message, ends the sending worker's database
    session before it answers 250: a crash between SMTP acceptance and marking the row sent."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.messages: list[Message] = []
        self.crash_next = True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        if self.crash_next:
            self.crash_next = False
            conn = await asyncpg.connect(self.database_url)
            try:
                # The sender holds the row lock of the email while it talks SMTP.
                killed = await conn.fetchval(
                    """SELECT count(pg_terminate_backend(pid)) FROM pg_locks
                        WHERE relation = 'emails'::regclass AND mode = 'RowShareLock'
                          AND database = (SELECT oid FROM pg_database
                                           WHERE datname = current_database())"""
                )
                assert killed == 1
            finally:
                await conn.close()
        return "250 Message accepted"


@pytest.fixture
def crash_sink(services: Services) -> Iterator[tuple[AcceptThenCrashSink, str]]:
    sink = AcceptThenCrashSink(services.database_url)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, f"smtp://127.0.0.1:{port}"
    controller.stop()


async def test_8_2_resend_after_a_crash_between_smtp_acceptance_and_marking_keeps_message_id(
    conn,
    settings: Settings,
    arq_redis: ArqRedis,
    crash_sink: tuple[AcceptThenCrashSink, str],
) -> None:
    sink, smtp_url = crash_sink
    email_id = await queue_sample_email(conn, "joe@example.com")
    own_pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        resources = WorkerResources(
            pool=own_pool,
            renderer=TemplateRenderer(),
            mailer=Mailer.from_url(smtp_url),
            mail_from=settings.mail_from,
        )
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):
            await send_email(job_context(resources, arq_redis), email_id)
        [unmarked] = await email_rows(conn)
        assert unmarked["sent_at"] is None  # accepted by SMTP, but not recorded as sent

        assert await send_email(job_context(resources, arq_redis, job_try=2), email_id) == "sent"
        assert await send_email(job_context(resources, arq_redis, job_try=3), email_id) == (
            ALREADY_SENT
        )
    finally:
        await own_pool.close()

    # Delivered twice, and the reader can tell the second is the same email.
    [row] = await email_rows(conn)
    assert row["sent_at"] is not None
    assert [m["Message-ID"] for m in sink.messages] == [row["message_id"]] * 2


# --- 8.1 / 8.2 templates: overridable per installation, previewable -------------------------

OVERRIDE = (
    "{% block subject %}Hello {{ client.first_name }}, from Acme Hosting{% endblock %}\n"
    "{% block body %}Acme welcomes {{ client.email }}.{% endblock %}\n"
)


@pytest.fixture
def override_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "email-templates"
    directory.mkdir()
    (directory / "client_signup.txt.j2").write_text(OVERRIDE)
    return directory


def test_8_2_template_override_directory_replaces_a_built_in_template(override_dir) -> None:
    sample = TEMPLATES["client_signup"].sample
    overridden = TemplateRenderer(override_dir).render("client_signup", sample)
    assert overridden.subject == "Hello Joe, from Acme Hosting"
    assert overridden.body == "Acme welcomes joe@example.com.\n"
    assert TemplateRenderer(override_dir).preview("client_signup") == overridden
    # Without the override, and for templates the directory lacks, the built-in is used.
    assert (
        TemplateRenderer().render("client_signup", sample).subject
        == "Welcome, Joe: your account is ready"
    )


async def test_8_2_worker_sends_the_installations_override_of_a_template(
    api, admin_token, settings: Settings, services: Services, override_dir: Path, conn
) -> None:
    await add_client_through_api(api, admin_token)

    await run_worker_with(settings.model_copy(update={"email_templates_dir": override_dir}))

    [message] = services.mail.messages
    assert message["Subject"] == "Hello Joe, from Acme Hosting"
    body = message.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert body == "Acme welcomes joe@example.com.\n"
    [row] = await email_rows(conn)
    assert row["subject"] == "Hello Joe, from Acme Hosting"


def test_8_1_every_built_in_template_file_is_registered_with_sample_data() -> None:
    files = {path.name.removesuffix(".txt.j2") for path in BUILTIN_DIR.glob("*.txt.j2")}
    assert files == set(TEMPLATES)


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_8_2_preview_renders_every_template_against_its_sample_data(key: str) -> None:
    preview = TemplateRenderer().preview(key)
    assert preview.subject and "\n" not in preview.subject
    assert preview.body.strip()
    for leftover in ("{{", "}}", "{%", "%}"):
        assert leftover not in preview.subject + preview.body


def test_8_2_template_with_a_missing_value_fails_instead_of_sending_blanks() -> None:
    with pytest.raises(EmailTemplateError, match="cannot be rendered"):
        TemplateRenderer().render("client_signup", {"client": {"first_name": "Joe"}})


async def test_8_2_unrenderable_template_is_recorded_and_not_retried(
    conn, services: Services, arq_redis: ArqRedis, resources: WorkerResources
) -> None:
    email_id = await outbox.queue_email(
        conn,
        template="client_signup",
        to_address="joe@example.com",
        to_name=None,
        client_id=None,
        context={"client": {"first_name": "Joe"}},  # the template needs more than that
    )
    assert await send_email(job_context(resources, arq_redis), email_id) == "template error"
    [row] = await email_rows(conn)
    assert row["sent_at"] is None
    assert row["attempts"] == 1
    assert "cannot be rendered" in row["last_error"]
    assert services.mail.messages == []


PREVIEWS = "query { emailTemplatePreviews { key title category subject body } }"


async def test_8_2_staff_preview_every_template_with_the_installations_overrides(
    api, admin_token, settings: Settings, override_dir: Path
) -> None:
    body = await gql(api, PREVIEWS, token=admin_token)
    previews = {p["key"]: p for p in body["data"]["emailTemplatePreviews"]}
    assert set(previews) == set(TEMPLATES)
    signup = previews["client_signup"]
    assert signup["title"] == "Client Signup Email"
    assert signup["category"] == "GENERAL"
    assert signup["subject"] == "Welcome, Joe: your account is ready"
    assert "https://example.com/clientarea/login" in signup["body"]

    overridden = create_app(settings.model_copy(update={"email_templates_dir": override_dir}))
    async with overridden.router.lifespan_context(overridden):
        transport = httpx.ASGITransport(app=overridden)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = await gql(client, PREVIEWS, token=admin_token)
    [signup] = [p for p in body["data"]["emailTemplatePreviews"] if p["key"] == "client_signup"]
    assert signup["subject"] == "Hello Joe, from Acme Hosting"
