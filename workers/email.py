"""Email jobs: send one outbox email, and re-enqueue what a crash left behind (SPEC 8.2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiosmtplib import SMTPException
from arq import Retry
from arq.connections import ArqRedis

from domain.emails import outbox
from domain.emails.message import build_message
from domain.emails.templates import EmailTemplateError, TemplateRenderer
from workers.mailer import Mailer

log = logging.getLogger(__name__)

SEND_EMAIL = "send_email"
# An email whose enqueue was lost (the API died between commit and enqueue) is re-enqueued
# by the relay once it has waited this long.
RELAY_AFTER_SECONDS = 60


def email_job_id(email_id: int) -> str:
    """One arq job per email: enqueuing the same email twice while it is pending is a no-op."""
    return f"email:{email_id}"


async def enqueue_emails(redis: ArqRedis, email_ids: list[int]) -> None:
    for email_id in email_ids:
        await redis.enqueue_job(SEND_EMAIL, email_id, _job_id=email_job_id(email_id))


@dataclass(frozen=True)
class WorkerResources:
    """What the jobs need, made by the worker's start-up hook and kept in ctx['resources']."""

    pool: asyncpg.Pool
    renderer: TemplateRenderer
    mailer: Mailer
    mail_from: str


async def send_email(ctx: dict[str, Any], email_id: int) -> str:
    resources: WorkerResources = ctx["resources"]
    error: Exception | None = None
    async with resources.pool.acquire() as conn:
        # The row lock is held while sending, so no other worker sends it meanwhile, and the
        # row is marked sent in the same transaction, so a sent email is never sent again.
        async with conn.transaction():
            email = await outbox.claim_email(conn, email_id)
            if email is None:
                return "already sent or being sent"
            try:
                rendered = resources.renderer.render(email.template, email.context)
            except EmailTemplateError as exc:
                error = exc
            else:
                message = build_message(email, rendered, mail_from=resources.mail_from)
                try:
                    await resources.mailer.send(message)
                except (SMTPException, OSError) as exc:
                    error = exc
                else:
                    await outbox.mark_sent(
                        conn, email.id, subject=rendered.subject, body=rendered.body
                    )
        if error is not None:
            await outbox.record_failure(conn, email_id, repr(error))
            log.warning("email %s not sent (try %s): %r", email_id, ctx.get("job_try"), error)
            if isinstance(error, EmailTemplateError):
                # Retrying cannot mend a template; the relay sends it once staff fix the file.
                return "template error"
            raise Retry(defer=min(300, 10 * ctx.get("job_try", 1) ** 2))
    return "sent"


async def relay_outbox(ctx: dict[str, Any]) -> int:
    """Enqueue emails committed but never picked up; returns how many were handed over."""
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        email_ids = await outbox.unsent_email_ids(conn, older_than_seconds=RELAY_AFTER_SECONDS)
    await enqueue_emails(ctx["redis"], email_ids)
    return len(email_ids)
