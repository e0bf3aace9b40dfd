"""SPEC 8.2 at the domain layer: the client's email log as the API reads it from the outbox."""

from __future__ import annotations

import dataclasses

import asyncpg

from domain.emails import log as email_log
from domain.emails import outbox
from domain.emails.log import ShownEmail
from domain.emails.outbox import Attempt, SentEmail
from domain.paging import PageRequest
from tests.conftest import add_client


async def sent_email(conn: asyncpg.Connection) -> tuple[int, int]:
    """A client and an email sent to it whose template context holds a value; their ids."""
    client = await add_client(conn)
    email_id = await outbox.queue_email(
        conn,
        template="client_signup",
        to_address="joe@example.com",
        to_name="Joe Bloggs",
        client_id=client.id,
        context={"first_name": "Joe"},
    )
    [started] = await outbox.start_attempts(conn, [Attempt(email_id, 1)], lease_seconds=60)
    # The worker composes from the whole row, context included.
    assert started.context == {"first_name": "Joe"}
    await outbox.mark_sent(conn, [SentEmail(email_id, "Welcome, Joe", "Dear Joe,\n")])
    return client.id, email_id


async def test_8_2_the_email_log_shows_what_was_sent_and_reads_no_template_context(
    conn: asyncpg.Connection,
) -> None:
    client_id, email_id = await sent_email(conn)

    [logged] = (await email_log.sent_emails_by_client(conn, [client_id]))[client_id]
    by_id = (await email_log.sent_emails_by_ids(conn, [email_id]))[email_id]

    for shown in (logged, by_id):
        assert type(shown) is ShownEmail
        assert (shown.id, shown.client_id, shown.subject, shown.body) == (
            email_id,
            client_id,
            "Welcome, Joe",
            "Dear Joe,\n",
        )
        assert shown.status is email_log.EmailStatus.SENT
        assert shown.sent_at is not None
        # What only composing an email needs is not read (nor its JSON decoded) for the log.
        assert not {"context", "to_name", "category"} & {f.name for f in dataclasses.fields(shown)}


async def test_8_2_every_way_of_reading_the_email_log_reads_each_field_from_its_column(
    conn: asyncpg.Connection,
) -> None:
    """Log rows are read by position (`email_log.reading`): by client, by id and on the failed
    list's page (after the page's own columns), each field holds its own column."""
    client_id, email_id = await sent_email(conn)
    failed_id = await outbox.queue_email(
        conn,
        template="client_signup",
        to_address="ann@example.com",
        to_name=None,
        client_id=client_id,
        context={},
    )
    await conn.execute(
        "UPDATE emails SET failed_at = now(), last_error = 'refused', attempts = 3 WHERE id = $1",
        failed_id,
    )
    names = [field.name for field in dataclasses.fields(ShownEmail)]

    async def by_name(pk: int) -> dict[str, object]:
        row = await conn.fetchrow("SELECT * FROM emails WHERE id = $1", pk)
        return {name: row[name] for name in names}

    read = {
        "by client": (
            (await email_log.sent_emails_by_client(conn, [client_id]))[client_id][0],
            email_id,
        ),
        "by id": ((await email_log.sent_emails_by_ids(conn, [email_id]))[email_id], email_id),
        "on the failed page": (
            (await email_log.failed_emails(conn, PageRequest(size=5))).items[0],
            failed_id,
        ),
    }

    for way, (shown, pk) in read.items():
        assert dataclasses.asdict(shown) == await by_name(pk), way
