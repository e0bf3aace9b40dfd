"""Email jobs: send one attempt of an outbox email, and hand over what is due (SPEC 8.2).

Each job is one attempt, with a job id made of the email and the attempt number: a retry is
a fresh job that arq cannot mistake for an earlier one (whose result it may still keep), and
a job a dead worker left behind finds its attempt already started or superseded and does
nothing. The outbox row, not arq, knows what is owed: the relay hands over every due attempt.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import asyncpg
from aiosmtplib import SMTPRecipientsRefused, SMTPResponseException
from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

from domain.automation.runs import RunTools
from domain.emails import outbox
from domain.emails.message import build_message
from domain.emails.outbox import Attempt, RetryPolicy
from domain.emails.templates import (
    EmailTemplateError,
    RenderedEmail,
    TemplateRenderer,
    redact_secrets,
)
from workers.mailer import Mailer

log = logging.getLogger(__name__)

SEND_EMAIL = "send_email"
SENT = "sent"
NOTHING_TO_DO = "already sent or being sent"

# What a lost database session or an unreachable PostgreSQL raises.
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
# Waits between tries at recording a sent email while the database is away.
MARK_SENT_RETRY_FIRST = 0.1
MARK_SENT_RETRY_MAX = 1.0


def email_job_id(attempt: Attempt) -> str:
    """One arq job per attempt: enqueuing an attempt again while it is pending is a no-op."""
    return f"email:{attempt.email_id}:{attempt.number}"


# arq's enqueue, for many jobs in one round trip: a job is queued unless one with its id is
# queued, running or kept (its job or result key exists), exactly as `enqueue_job` decides,
# but atomically for all of them at once. KEYS: the queue, then each job's job and result
# key; ARGV: the expiry (ms) and the score, then each job's id and serialised job.
_ENQUEUE_MANY = """
local queued = 0
for i = 1, (#KEYS - 1) / 2 do
  local job_key, result_key = KEYS[2 * i], KEYS[2 * i + 1]
  if redis.call('EXISTS', job_key, result_key) == 0 then
    redis.call('PSETEX', job_key, ARGV[1], ARGV[2 * i + 2])
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[2 * i + 1])
    queued = queued + 1
  end
end
return queued
"""
# Jobs per round trip: big enough for any burst, small enough not to block Redis.
ENQUEUE_BATCH = 500


async def enqueue_attempts(redis: ArqRedis, attempts: list[Attempt]) -> int:
    """Queue one job per attempt, in one Redis round trip per `ENQUEUE_BATCH`; return how
    many were queued (an attempt whose job exists already is not queued twice)."""
    enqueue_many = redis.register_script(_ENQUEUE_MANY)
    queued = 0
    for start in range(0, len(attempts), ENQUEUE_BATCH):
        batch = attempts[start : start + ENQUEUE_BATCH]
        now = timestamp_ms()
        keys: list[str] = [redis.default_queue_name]
        args: list[str | bytes | int] = [redis.expires_extra_ms, now]
        for attempt in batch:
            job_id = email_job_id(attempt)
            keys += [job_key_prefix + job_id, result_key_prefix + job_id]
            job = serialize_job(
                SEND_EMAIL, tuple(attempt), {}, None, now, serializer=redis.job_serializer
            )
            args += [job_id, job]
        queued += int(await enqueue_many(keys=keys, args=args))
    return queued


async def enqueue_emails(redis: ArqRedis, email_ids: list[int]) -> None:
    """Hand emails never tried yet (just committed, or requeued by staff) to the workers."""
    await enqueue_attempts(redis, [Attempt(email_id, 1) for email_id in email_ids])


@dataclass(frozen=True)
class WorkerResources:
    """What the jobs need, made by the worker's start-up hook and kept in ctx['resources']."""

    pool: asyncpg.Pool
    renderer: TemplateRenderer
    mailer: Mailer
    mail_from: str
    retry: RetryPolicy
    # How long a committed email may wait for its enqueue before the relay hands it over.
    relay_after_seconds: float
    # The longest an attempt may run (the job timeout): no second attempt starts meanwhile.
    attempt_lease_seconds: float
    # Gateways, card keys and the client-area address of the daily automation.
    automation: RunTools


class Unsendable(Exception):
    """The email cannot be sent as it is: retrying it unchanged cannot help."""


def _is_permanent(error: Exception) -> bool:
    """SMTP 5xx answers are final; 4xx answers and lost connections are worth a retry."""
    if isinstance(error, SMTPRecipientsRefused):
        return all(refusal.code >= 500 for refusal in error.recipients)
    return isinstance(error, SMTPResponseException) and error.code >= 500


async def send_email(ctx: dict[str, Any], email_id: int, number: int = 1) -> str:
    resources: WorkerResources = ctx["resources"]
    attempt = Attempt(email_id, number)
    async with resources.pool.acquire() as conn:
        lease = resources.attempt_lease_seconds
        if await outbox.start_attempt(conn, attempt, lease_seconds=lease) is None:
            return NOTHING_TO_DO
        try:
            return await _send_started_attempt(conn, attempt, resources)
        except AcceptedButNotMarked as accepted:
            unmarked: AcceptedButNotMarked | None = accepted
        except DATABASE_ERRORS as error:
            unmarked, failure = None, error
    if unmarked is not None:
        await _mark_sent_once_the_database_answers(resources.pool, attempt, unmarked.rendered)
        return SENT
    # The attempt counts already; note why it failed, and the relay retries it after its
    # backoff either way.
    log.warning("email %s, attempt %s: database error %r", email_id, number, failure)
    async with resources.pool.acquire() as conn:
        await outbox.record_failure(conn, attempt, repr(failure), resources.retry)
    return "database error"


class AcceptedButNotMarked(Exception):
    """The SMTP server accepted the email, then the database session was lost."""

    def __init__(self, rendered: RenderedEmail) -> None:
        super().__init__("accepted by SMTP but not marked sent")
        self.rendered = rendered


async def _send_started_attempt(
    conn: asyncpg.Connection, attempt: Attempt, resources: WorkerResources
) -> str:
    accepted: RenderedEmail | None = None
    try:
        # The row lock is held while sending, so no other worker sends it meanwhile, and the
        # row is marked sent in the same transaction, so a sent email is never sent again.
        async with conn.transaction():
            email = await outbox.claim_email(conn, attempt)
            if email is None:
                return NOTHING_TO_DO
            try:
                message, rendered = _message(email, resources)
                await resources.mailer.send(message)
            except Exception as error:  # every SMTP failure is recorded on the row
                failure = error
            else:
                accepted = rendered
                await outbox.mark_sent(conn, email.id, subject=rendered.subject, body=rendered.body)
                return SENT
    except DATABASE_ERRORS as error:
        if accepted is not None:
            raise AcceptedButNotMarked(accepted) from error
        raise
    permanent = isinstance(failure, Unsendable) or _is_permanent(failure)
    status = await outbox.record_failure(
        conn, attempt, repr(failure), resources.retry, permanent=permanent
    )
    log.warning("email %s, attempt %s: %r; now %s", *attempt, failure, status)
    return f"not sent: {status}"


async def _mark_sent_once_the_database_answers(
    pool: asyncpg.Pool, attempt: Attempt, rendered: RenderedEmail
) -> None:
    """Record a sent email whose session was lost after SMTP acceptance (PostgreSQL
    restarting, say), trying until the job's timeout: left unmarked, it would be sent again
    once the attempt's lease is over."""
    delay = MARK_SENT_RETRY_FIRST
    while True:
        try:
            async with pool.acquire() as conn:
                await outbox.mark_sent(
                    conn, attempt.email_id, subject=rendered.subject, body=rendered.body
                )
            return
        except DATABASE_ERRORS as error:
            log.warning("email %s was sent; recording it failed: %r", attempt.email_id, error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MARK_SENT_RETRY_MAX)


def _message(email: outbox.Email, resources: WorkerResources) -> tuple[EmailMessage, RenderedEmail]:
    """The message to send, and what the email log keeps of it (without its secrets);
    Unsendable when it cannot be made."""
    try:
        rendered = resources.renderer.render(email.template, email.context)
        message = build_message(email, rendered, mail_from=resources.mail_from)
        return message, redact_secrets(rendered, email.context)
    except (EmailTemplateError, ValueError) as error:  # UnicodeError is a ValueError
        raise Unsendable(str(error)) from error


async def relay_outbox(ctx: dict[str, Any]) -> int:
    """Enqueue every attempt that is due; returns how many were handed over."""
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        due = await outbox.due_attempts(conn, new_after_seconds=resources.relay_after_seconds)
    await enqueue_attempts(ctx["redis"], due)
    return len(due)
