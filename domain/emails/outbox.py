"""The transactional outbox (SPEC 8.2).

`queue_email` writes a row inside the caller's transaction, so the email exists exactly when
the change that causes it commits. A worker first counts the attempt on the row (committed,
so an attempt cut short by a crash still counts), then claims the row with a row lock, sends
it and marks it sent in the same transaction; a row already marked sent is never sent again.
A failed attempt is recorded with its error and retried with exponential backoff until the
retry policy gives up; the row is then FAILED and waits for staff (`requeue_failed_email`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from domain.emails.links import api_id_sql
from domain.emails.log import EmailStatus, ShownEmail, reading
from domain.emails.templates import INVOICE_ROW_KEY, SECRET_KEY, TEMPLATES, EmailCategory
from domain.errors import NotFound


@dataclass(frozen=True)
class Email(ShownEmail):
    """A whole outbox row, as the worker composes and sends it."""

    category: str
    to_name: str | None
    context: dict[str, Any]
    created_at: datetime
    # Its From when not the installation's MAIL_FROM (a ticket department's address).
    from_address: str | None


class Attempt(NamedTuple):
    """Attempt number `number` (1 for the first) at sending email `email_id`."""

    email_id: int
    number: int


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed email is tried again."""

    max_attempts: int = 8
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th attempt: base, 2×base, 4×base, … up to cap."""
        return float(min(self.cap_seconds, self.base_seconds * 2 ** (attempts - 1)))


_COLUMNS, _email = reading(Email)


async def queue_email(
    conn: asyncpg.Connection,
    *,
    template: str,
    to_address: str,
    to_name: str | None,
    client_id: int | None,
    context: dict[str, Any],
    contact_id: int | None = None,
    from_address: str | None = None,
) -> int:
    """Add an email to the outbox in the current transaction; return its id. It goes from
    `from_address` ("Name <address>"), or from MAIL_FROM when that is None.

    The database gives it a Message-ID that stays the same across resends, so a duplicate
    after a crash can be recognised by the reader."""
    email_id: int = await conn.fetchval(
        """INSERT INTO emails (client_id, contact_id, template, category, to_address, to_name,
                               context, from_address)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
        client_id,
        contact_id,
        template,
        TEMPLATES[template].category.value,
        to_address,
        to_name,
        context,
        from_address,
    )
    return email_id


async def queue_client_email(
    conn: asyncpg.Connection, client_id: int, *, template: str, context: dict[str, Any]
) -> list[int]:
    """Queue a client email and its contact copies; return the ids, the main one first.

    Invoice emails go to the default billing contact when one is set (SPEC 2.5); contacts
    whose preferences tick the email's category get a copy (SPEC 2.2, 8.3). Account emails
    (logins, passwords) go to their owner only.
    """
    category = TEMPLATES[template].category
    recipient = await conn.fetchrow(
        """SELECT coalesce(bc.email, c.email)::text AS email,
                  coalesce(bc.first_name || ' ' || bc.last_name,
                           c.first_name || ' ' || c.last_name) AS name,
                  bc.id AS contact_id
             FROM clients c
             LEFT JOIN contacts bc ON bc.id = c.billing_contact_id AND $2
            WHERE c.id = $1""",
        client_id,
        category is EmailCategory.INVOICE,
    )
    main_id = await queue_email(
        conn,
        template=template,
        to_address=recipient["email"],
        to_name=recipient["name"],
        client_id=client_id,
        context=context,
        contact_id=recipient["contact_id"],
    )
    if category is EmailCategory.ACCOUNT:
        return [main_id]
    copies = await conn.fetch(
        """INSERT INTO emails (client_id, contact_id, template, category, to_address, to_name,
                               context)
           SELECT client_id, id, $3, $4, email, first_name || ' ' || last_name, $5
             FROM contacts
            WHERE client_id = $1 AND $4 = ANY(email_preferences)
              AND id IS DISTINCT FROM $2 AND email <> $6  -- one email per address
            ORDER BY id
           RETURNING id""",
        client_id,
        recipient["contact_id"],
        template,
        category.value,
        context,
        recipient["email"],
    )
    return [main_id, *(row["id"] for row in copies)]


def with_contact_copies_sql(main: str, category: EmailCategory) -> str:
    """One statement that queues the emails `main` gives and their contact copies (SPEC 2.2,
    8.3): the set-wise twin of `queue_client_email`, for the bulk senders.

    `main` is the body of a CTE giving (client_id, contact_id, template, to_address,
    to_name, context, dedupe_key): one email per row, a NULL contact_id being the client
    itself. Each contact of that client who ticked `category` gets a copy, once per address;
    a copy's dedupe_key extends its email's, so that a keyed email is queued once with its
    copies whatever runs this again. The statement answers how many of `main`'s emails were
    queued (the copies not counted)."""
    return f"""
WITH main AS ({main}),
copies AS (
    SELECT m.client_id, k.id AS contact_id, m.template, k.email::text AS to_address,
           k.first_name || ' ' || k.last_name AS to_name, m.context,
           m.dedupe_key || '/contact:' || k.id AS dedupe_key
      FROM main m JOIN contacts k ON k.client_id = m.client_id
     WHERE '{category.value}' = ANY(k.email_preferences)
       AND k.id IS DISTINCT FROM m.contact_id
       AND k.email <> m.to_address  -- one email per address
),
queued AS (
    INSERT INTO emails (client_id, contact_id, template, category, to_address, to_name,
                        context, dedupe_key)
    SELECT client_id, contact_id, template, '{category.value}', to_address, to_name, context,
           dedupe_key
      FROM (SELECT *, true AS is_main FROM main UNION ALL SELECT *, false FROM copies) q
     ORDER BY client_id, dedupe_key, is_main DESC, contact_id
        ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
    RETURNING contact_id, dedupe_key
)
-- A main email is keyed without '/', or is unkeyed and the client's own (NULL contact).
SELECT count(*) FROM queued
 WHERE CASE WHEN dedupe_key IS NULL THEN contact_id IS NULL
            ELSE position('/' IN dedupe_key) = 0 END"""


def _invoice_emails_sql(source: str) -> str:
    return with_contact_copies_sql(
        f"""
    WITH src (invoice_id, template, notice) AS ({source})
    SELECT i.client_id, bc.id AS contact_id, s.template,
           coalesce(bc.email, c.email)::text AS to_address,
           coalesce(bc.first_name, c.first_name) || ' ' || coalesce(bc.last_name, c.last_name)
               AS to_name,
           jsonb_build_object(
               'client', jsonb_build_object(
                   'first_name', coalesce(bc.first_name, c.first_name),
                   'last_name', coalesce(bc.last_name, c.last_name),
                   'email', c.email, 'company_name', c.company_name),
               'invoice', jsonb_build_object(
                   'id', {api_id_sql("Invoice", "i.id")}, 'number', i.number,
                   'due_date', i.due_date, 'total', i.total::text, 'balance', i.balance::text,
                   'currency', i.currency),
               'client_area_url', $1::text, '{INVOICE_ROW_KEY}', i.id) AS context,
           'invoice:' || i.id || ':' || s.notice AS dedupe_key
      FROM src s JOIN invoices i ON i.id = s.invoice_id JOIN clients c ON c.id = i.client_id
      LEFT JOIN contacts bc ON bc.id = c.billing_contact_id""",
        EmailCategory.INVOICE,
    )


async def queue_invoice_emails(
    conn: asyncpg.Connection, source: str, *args: Any, client_area_url: str
) -> int:
    """Queue invoice emails for many invoices in one statement; return how many invoices got
    one (their copies not counted).

    `source` is SQL giving rows `(invoice_id, template, notice)`, its parameters from $2 on.
    As `queue_client_email` does one at a time: each goes to the default billing contact
    when set (SPEC 2.5), with copies to the contacts who ticked INVOICE (SPEC 8.3). Each
    email has a key made of the invoice and the `notice`, so it is queued once whatever runs
    this again."""
    count: int = await conn.fetchval(_invoice_emails_sql(source), client_area_url, *args)
    return count


async def current_transaction_id(conn: asyncpg.Connection) -> int | None:
    """The id of the open transaction if it has written anything, else None."""
    xid = await conn.fetchval("SELECT pg_current_xact_id_if_assigned()::text::bigint")
    return int(xid) if xid is not None else None


async def emails_queued_by_transaction(conn: asyncpg.Connection, xid: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT id FROM emails WHERE created_xid = $1::text::xid8 AND sent_at IS NULL ORDER BY id",
        str(xid),
    )
    return [r["id"] for r in rows]


async def due_attempts(conn: asyncpg.Connection, *, new_after_seconds: float) -> list[Attempt]:
    """The next attempt of every email that should be tried now.

    A failed attempt is due once its backoff has passed; an email never tried is due once it
    has waited `new_after_seconds` (its enqueue after commit may have been lost). The
    least-tried come first, so a backlog of failing emails cannot starve new ones."""
    rows = await conn.fetch(
        """SELECT id, attempts + 1 AS number FROM emails
            WHERE sent_at IS NULL AND failed_at IS NULL
              AND coalesce(next_attempt_at, created_at + make_interval(secs => $1)) <= now()
            ORDER BY attempts, id LIMIT 1000""",
        new_after_seconds,
    )
    return [Attempt(r["id"], r["number"]) for r in rows]


async def start_attempts(
    conn: asyncpg.Connection, attempts: Sequence[Attempt], *, lease_seconds: float
) -> list[Email]:
    """Count each attempt on its email before anything is sent, in one statement; commit it
    before sending. Returns the emails whose attempt was started, by id.

    No other attempt is handed over for `lease_seconds` (the longest an attempt may run), so
    an attempt cut short by a crash is retried after that, and one still running is not
    doubled. An email is left out when it is sent, failed, being tried right now, or its
    attempt here is stale (an earlier job that a dead worker left behind)."""
    rows = await conn.fetch(
        f"""UPDATE emails SET attempts = attempts + 1,
                              next_attempt_at = now() + make_interval(secs => $3)
             WHERE id IN (SELECT e.id
                            FROM emails e
                            JOIN unnest($1::bigint[], $2::int[]) AS a (id, number)
                              ON e.id = a.id AND e.attempts = a.number - 1
                           WHERE e.sent_at IS NULL AND e.failed_at IS NULL
                           ORDER BY e.id
                             FOR UPDATE OF e SKIP LOCKED)
            RETURNING {_COLUMNS}""",
        [a.email_id for a in attempts],
        [a.number for a in attempts],
        lease_seconds,
    )
    return sorted(map(_email, rows), key=lambda email: email.id)


async def claim_emails(conn: asyncpg.Connection, started: Sequence[Email]) -> set[int]:
    """Lock started attempts' emails for sending within the caller's transaction; return the
    ids locked. An email sent meanwhile, or tried again since, is left out."""
    rows = await conn.fetch(
        """SELECT e.id
             FROM emails e JOIN unnest($1::bigint[], $2::int[]) AS a (id, number)
               ON e.id = a.id AND e.attempts = a.number
            WHERE e.sent_at IS NULL AND e.failed_at IS NULL
            ORDER BY e.id
              FOR UPDATE OF e SKIP LOCKED""",
        [email.id for email in started],
        [email.attempts for email in started],
    )
    return {row["id"] for row in rows}


class SentEmail(NamedTuple):
    """What the email log keeps of an email the SMTP server accepted (without its secrets)."""

    email_id: int
    subject: str
    body: str


async def mark_sent(conn: asyncpg.Connection, sent: Sequence[SentEmail]) -> None:
    """Record that the SMTP server accepted these emails, in one statement (a no-op for one
    marked sent already).

    Also after the sending session was lost, when a later attempt may have failed meanwhile:
    what the server accepted counts, whatever happened since. The context's secrets (a
    reset token, a new password) are dropped: `body` is given without them."""
    await conn.execute(
        """UPDATE emails e
              SET sent_at = now(), subject = s.subject, body = s.body, last_error = NULL,
                  next_attempt_at = NULL, failed_at = NULL, context = e.context - $4::text
             FROM unnest($1::bigint[], $2::text[], $3::text[]) AS s (id, subject, body)
            WHERE e.id = s.id AND e.sent_at IS NULL""",
        [s.email_id for s in sent],
        [s.subject for s in sent],
        [s.body for s in sent],
        SECRET_KEY,
    )


async def record_failure(
    conn: asyncpg.Connection,
    attempt: Attempt,
    error: str,
    policy: RetryPolicy,
    *,
    permanent: bool = False,
) -> EmailStatus | None:
    """Record why `attempt` failed; the email is FAILED after the last allowed attempt, or at
    once when the failure is `permanent` (retrying as it is cannot help), else QUEUED for a
    retry after the backoff. None when the attempt is no longer the email's latest."""
    status: EmailStatus | None = await conn.fetchval(
        """UPDATE emails
              SET last_error = $3,
                  failed_at = CASE WHEN $4 OR attempts >= $5 THEN now() END,
                  next_attempt_at = CASE WHEN $4 OR attempts >= $5 THEN NULL
                                         ELSE now() + make_interval(secs => $6) END
            WHERE id = $1 AND attempts = $2 AND sent_at IS NULL AND failed_at IS NULL
        RETURNING CASE WHEN failed_at IS NULL THEN 'QUEUED' ELSE 'FAILED' END""",
        attempt.email_id,
        attempt.number,
        error[:1000],
        permanent,
        policy.max_attempts,
        policy.delay_after(attempt.number),
    )
    return EmailStatus(status) if status else None


async def requeue_failed_email(conn: asyncpg.Connection, email_id: int) -> Attempt:
    """Put a FAILED email back in the queue with a fresh round of attempts; return the first.

    The error of its last attempt stays until it is sent."""
    requeued = await conn.fetchval(
        """UPDATE emails SET failed_at = NULL, next_attempt_at = NULL, attempts = 0
            WHERE id = $1 AND failed_at IS NOT NULL RETURNING id""",
        email_id,
    )
    if requeued is None:
        raise NotFound("Failed email")
    return Attempt(email_id, 1)
