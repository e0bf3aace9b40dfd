"""Email jobs: send a batch of outbox emails, one attempt each, and hand over what is due
(SPEC 8.2).

A job carries up to `EMAILS_PER_JOB` attempts (an email and its attempt number): a retry is
a fresh attempt, and a job a dead worker left behind finds its attempts already started or
superseded and does nothing. The outbox row, not arq, knows what is owed: the relay hands
over every due attempt. A job costs a handful of statements whatever its size: one counts
its attempts, one locks them for sending, one marks the accepted ones sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg
from aiosmtplib import SMTPRecipientsRefused, SMTPResponseException
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

from domain.automation.runs import RunTools
from domain.emails import outbox
from domain.emails.attachments import EmailAttachments
from domain.emails.localisation import Localisation
from domain.emails.message import OutgoingMessage, build_message
from domain.emails.outbox import Attempt, Email, RetryPolicy, SentEmail
from domain.emails.rendering import TemplateRenderer
from domain.emails.templates import EmailTemplateError, redact_secrets
from workers.mailer import Mailer

log = logging.getLogger(__name__)

SEND_EMAILS = "send_emails"
SENT = "sent"
NOTHING_TO_DO = "already sent or being sent"
DATABASE_ERROR = "database error"

# Attempts per job: enough that the per-job costs (arq's Redis traffic, the statements)
# vanish per email, few enough that a job ends well inside its timeout.
EMAILS_PER_JOB = 50
# What a lost database session or an unreachable PostgreSQL raises.
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
# Waits between tries at recording a sent email while the database is away.
MARK_SENT_RETRY_FIRST = 0.1
MARK_SENT_RETRY_MAX = 1.0


def handed_over_key(attempt: Attempt) -> str:
    """The Redis key that says an attempt waits in a job or runs: it is not handed over twice."""
    return f"clientdesk:email-attempt:{attempt.email_id}:{attempt.number}"


# arq's enqueue, for many jobs in one round trip. A job is queued unless every attempt in it
# is handed over already (its key exists); it then marks them all handed over. KEYS: the
# queue, then for each job its job key and the key of each of its attempts; ARGV: the expiry
# (ms) and the score, then for each job its id, the serialised job and its number of attempts.
# Returns how many attempts were handed over that were not before.
_ENQUEUE_MANY = """
local queued, k = 0, 2
for j = 3, #ARGV, 3 do
  local fresh, n = 0, tonumber(ARGV[j + 2])
  for i = 1, n do
    if redis.call('SET', KEYS[k + i], 1, 'NX', 'PX', ARGV[1]) then fresh = fresh + 1 end
  end
  if fresh > 0 then
    redis.call('PSETEX', KEYS[k], ARGV[1], ARGV[j + 1])
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[j])
    queued = queued + fresh
  end
  k = k + n + 1
end
return queued
"""
# Attempts per round trip: big enough for any burst, small enough not to block Redis.
ENQUEUE_BATCH = 500


async def enqueue_attempts(redis: ArqRedis, attempts: Sequence[Attempt]) -> int:
    """Queue jobs of up to `EMAILS_PER_JOB` attempts, in one Redis round trip per
    `ENQUEUE_BATCH`; return how many attempts were handed over (one handed over already is
    not counted again, and a job of such attempts only is not queued)."""
    enqueue_many = redis.register_script(_ENQUEUE_MANY)
    queued = 0
    for start in range(0, len(attempts), ENQUEUE_BATCH):
        now = timestamp_ms()
        keys: list[str] = [redis.default_queue_name]
        args: list[str | bytes | int] = [redis.expires_extra_ms, now]
        for first in range(start, min(start + ENQUEUE_BATCH, len(attempts)), EMAILS_PER_JOB):
            batch = attempts[first : min(first + EMAILS_PER_JOB, start + ENQUEUE_BATCH)]
            job_id = uuid4().hex
            job = serialize_job(
                SEND_EMAILS,
                ([tuple(attempt) for attempt in batch],),
                {},
                None,
                now,
                serializer=redis.job_serializer,
            )
            keys += [job_key_prefix + job_id, *map(handed_over_key, batch)]
            args += [job_id, job, len(batch)]
        queued += int(await enqueue_many(keys=keys, args=args))
    return queued


async def enqueue_emails(redis: ArqRedis, email_ids: list[int]) -> None:
    """Hand emails never tried yet (just committed, or requeued by staff) to the workers."""
    await enqueue_attempts(redis, [Attempt(email_id, 1) for email_id in email_ids])


@dataclass(frozen=True)
class WorkerResources:
    """What the jobs need, made by the worker's start-up hook and kept in ctx['resources']."""

    pool: asyncpg.Pool
    # PostgreSQL itself, for the daily run's advisory lock held across its transactions:
    # PgBouncer's transaction pooling would take the lock on one server connection and
    # release it on another (DATABASE_DIRECT_URL). The same pool without PgBouncer.
    session_pool: asyncpg.Pool
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
    # How long events are kept for subscribers that reconnect with `after`.
    event_retention: timedelta = timedelta(hours=24)


class Unsendable(Exception):
    """The email cannot be sent as it is: retrying it unchanged cannot help."""


class NotTriedInTime(Exception):
    """The job spent its time on the emails before this one (a slow SMTP server)."""


def _is_permanent(error: Exception) -> bool:
    """SMTP 5xx answers are final; 4xx answers and lost connections are worth a retry."""
    if isinstance(error, SMTPRecipientsRefused):
        return all(refusal.code >= 500 for refusal in error.recipients)
    return isinstance(error, SMTPResponseException) and error.code >= 500


async def send_emails(ctx: dict[str, Any], attempts: list[tuple[int, int]]) -> str:
    """The job: one attempt at each email of a batch; says how many ended how."""
    handed_over = [Attempt(*attempt) for attempt in attempts]
    try:
        outcomes = await send_attempts(ctx["resources"], handed_over)
    finally:
        # No longer handed over: the relay may hand any of them over again once it is due.
        await ctx["redis"].delete(*map(handed_over_key, handed_over))
    return ", ".join(f"{outcome}: {n}" for outcome, n in Counter(outcomes).items())


async def send_email(ctx: dict[str, Any], email_id: int, number: int = 1) -> str:
    """One attempt at one email: the job of earlier versions, which queued one per email."""
    [outcome] = await send_attempts(ctx["resources"], [Attempt(email_id, number)])
    return outcome


@dataclass
class _Batch:
    """What became of a batch's started attempts so far."""

    started: list[Email]
    sent: list[SentEmail] = field(default_factory=list)
    failed: list[tuple[Email, Exception]] = field(default_factory=list)
    # Not sent because the database session was lost.
    lost: list[tuple[Email, Exception]] = field(default_factory=list)
    # Locked for sending and not tried yet.
    untried: list[Email] = field(default_factory=list)


async def send_attempts(resources: WorkerResources, attempts: Sequence[Attempt]) -> list[str]:
    """Make `attempts` (each at most once) and return what became of each, in order."""
    unmarked = False
    async with resources.pool.acquire() as conn:
        lease = resources.attempt_lease_seconds
        batch = _Batch(await outbox.start_attempts(conn, attempts, lease_seconds=lease))
        try:
            await _send_started_attempts(conn, batch, resources)
        except DATABASE_ERRORS as error:
            # Each attempt counts already; the relay retries them after their backoff.
            log.warning("emails %s: database error %r", [e.id for e in batch.untried], error)
            batch.lost = [(email, error) for email in batch.untried]
            unmarked = bool(batch.sent)  # accepted by SMTP, then the session was lost
    if unmarked:
        await _mark_sent_once_the_database_answers(resources.pool, batch.sent)
    outcomes = {sent.email_id: SENT for sent in batch.sent}
    if batch.failed or batch.lost:
        async with resources.pool.acquire() as conn:
            for email, failure in batch.lost:
                attempt = Attempt(email.id, email.attempts)
                await outbox.record_failure(conn, attempt, repr(failure), resources.retry)
                outcomes[email.id] = DATABASE_ERROR
            for email, failure in batch.failed:
                outcomes[email.id] = await _record_failure(conn, email, failure, resources)
    started = {Attempt(email.id, email.attempts) for email in batch.started}
    return [
        outcomes.get(attempt.email_id, NOTHING_TO_DO) if attempt in started else NOTHING_TO_DO
        for attempt in attempts
    ]


async def _send_started_attempts(
    conn: asyncpg.Connection, batch: _Batch, resources: WorkerResources
) -> None:
    # The row locks are held while sending, so no other worker sends these meanwhile, and
    # the accepted ones are marked sent in the same transaction, so a sent email is never
    # sent again. Sending stops at half the lease, so that the job ends before its timeout
    # with what was accepted marked; the rest are tried again after their backoff.
    if not batch.started:
        return
    clock = asyncio.get_running_loop().time
    deadline = clock() + resources.attempt_lease_seconds / 2
    batch.untried = list(batch.started)
    async with conn.transaction():
        claimed = await outbox.claim_emails(conn, batch.started)
        batch.untried = [email for email in batch.untried if email.id in claimed]
        attachments = await EmailAttachments.load(conn, batch.untried)
        localisation = await Localisation.load(conn, batch.untried)
        while batch.untried:
            email = batch.untried.pop(0)
            if clock() > deadline:
                batch.failed.append((email, NotTriedInTime("not tried: the job ran out of time")))
                continue
            try:
                message, sent = _message(email, resources, attachments, localisation)
                await resources.mailer.send(message)
            except Exception as error:  # every SMTP failure is recorded on the row
                batch.failed.append((email, error))
            else:
                batch.sent.append(sent)
        if batch.sent:
            await outbox.mark_sent(conn, batch.sent)


async def _record_failure(
    conn: asyncpg.Connection, email: Email, failure: Exception, resources: WorkerResources
) -> str:
    attempt = Attempt(email.id, email.attempts)
    permanent = isinstance(failure, Unsendable) or _is_permanent(failure)
    status = await outbox.record_failure(
        conn, attempt, repr(failure), resources.retry, permanent=permanent
    )
    log.warning("email %s, attempt %s: %r; now %s", *attempt, failure, status)
    return f"not sent: {status}"


async def _mark_sent_once_the_database_answers(
    pool: asyncpg.Pool, sent: Sequence[SentEmail]
) -> None:
    """Record sent emails whose session was lost after SMTP acceptance (PostgreSQL
    restarting, say), trying until the job's timeout: left unmarked, they would be sent
    again once their attempt's lease is over."""
    delay = MARK_SENT_RETRY_FIRST
    while True:
        try:
            async with pool.acquire() as conn:
                await outbox.mark_sent(conn, sent)
            return
        except DATABASE_ERRORS as error:
            ids = [s.email_id for s in sent]
            log.warning("emails %s were sent; recording it failed: %r", ids, error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MARK_SENT_RETRY_MAX)


def _message(
    email: Email,
    resources: WorkerResources,
    attachments: EmailAttachments,
    localisation: Localisation,
) -> tuple[OutgoingMessage, SentEmail]:
    """The message to send in its recipient's language, and what the email log keeps of it
    (without its secrets or its attachments); Unsendable when it cannot be made."""
    try:
        # An email queued where no request's client-area address is at hand (a commission
        # earned deep in billing) links under the worker's own.
        context = {"client_area_url": resources.automation.client_area_url, **email.context}
        rendered = localisation.render(resources.renderer, replace(email, context=context))
        message = build_message(
            email,
            rendered,
            mail_from=email.from_address or resources.mail_from,
            attachments=attachments.of(email),
        )
    except (EmailTemplateError, ValueError) as error:  # UnicodeError is a ValueError
        raise Unsendable(str(error)) from error
    kept = redact_secrets(rendered, email.context)
    return message, SentEmail(email.id, kept.subject, kept.body)


async def relay_outbox(ctx: dict[str, Any]) -> int:
    """Enqueue every attempt that is due; returns how many were handed over."""
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        due = await outbox.due_attempts(conn, new_after_seconds=resources.relay_after_seconds)
    await enqueue_attempts(ctx["redis"], due)
    return len(due)
