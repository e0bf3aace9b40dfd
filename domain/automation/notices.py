"""Invoice emails of the daily run (SPEC 8.1, 9.4, 9.5) and late fees (SPEC 9.4).

Each is one statement over all invoices. An email is keyed by its invoice and notice, so a
run repeated, retried or cut short queues each one once. A notice is sent from its day on
(so a missed day is caught up) unless a later notice is due already: an invoice three
weeks overdue gets the third notice, not all three at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from domain.automation.settings import AutomationSettings, LateFeeType
from domain.emails.outbox import queue_invoice_emails
from domain.money import MAX_AMOUNT

# Invoices the current transaction's `generate_invoices` made (its temporary table).
_NEW_INVOICES = """
SELECT di.invoice_id,
       CASE WHEN g.kind = 'MERCHANT' THEN 'credit_card_invoice_created' ELSE 'invoice_created' END,
       'created'
  FROM due_invoices di LEFT JOIN payment_gateways g ON g.name = di.payment_method"""

_REMINDERS = """
SELECT i.id, 'invoice_payment_reminder', 'reminder'
  FROM invoices i
 WHERE $3::int > 0 AND i.status = 'UNPAID' AND i.balance > 0
   AND i.due_date > $2::date AND i.due_date <= $2::date + $3::int"""

_OVERDUE = """
WITH kinds (notice, template, days) AS (
    VALUES ('overdue-1', 'invoice_first_overdue_notice', $3::int),
           ('overdue-2', 'invoice_second_overdue_notice', $4::int),
           ('overdue-3', 'invoice_third_overdue_notice', $5::int))
SELECT i.id, k.template, k.notice
  FROM invoices i
  JOIN clients c ON c.id = i.client_id
  JOIN kinds k ON k.days > 0 AND $2::date - i.due_date >= k.days
 WHERE i.status = 'UNPAID' AND i.balance > 0 AND i.due_date < $2::date
   AND NOT c.overdue_notices_disabled
   AND NOT EXISTS (SELECT 1 FROM kinds later
                    WHERE later.days > k.days AND $2::date - i.due_date >= later.days)"""


async def queue_new_invoice_emails(conn: asyncpg.Connection, *, client_area_url: str) -> int:
    """ "Invoice Created", or "Credit Card Invoice Created" for invoices paid by card, for the
    invoices `generate_invoices` made earlier in this transaction."""
    return await queue_invoice_emails(conn, _NEW_INVOICES, client_area_url=client_area_url)


async def queue_payment_reminders(
    conn: asyncpg.Connection, *, as_of: date, settings: AutomationSettings, client_area_url: str
) -> int:
    """The payment reminder, from `payment_reminder_days` before the due date (SPEC 9.4)."""
    return await queue_invoice_emails(
        conn, _REMINDERS, as_of, settings.payment_reminder_days, client_area_url=client_area_url
    )


async def queue_overdue_notices(
    conn: asyncpg.Connection, *, as_of: date, settings: AutomationSettings, client_area_url: str
) -> int:
    """First, second and third overdue notices, except for clients with
    `overdueNoticesDisabled` (SPEC 1.5)."""
    return await queue_invoice_emails(
        conn,
        _OVERDUE,
        as_of,
        settings.first_overdue_notice_days,
        settings.second_overdue_notice_days,
        settings.third_overdue_notice_days,
        client_area_url=client_area_url,
    )


@dataclass(frozen=True)
class LateFees:
    added: int
    # Numbers of the invoices left without their fee: their total would be more than an
    # invoice can hold. They are tried again on the next run.
    too_large: list[int]


async def add_late_fees(
    conn: asyncpg.Connection, *, as_of: date, settings: AutomationSettings
) -> LateFees:
    """Add the late fee, once, to invoices unpaid `late_fee_days` after their due date,
    except those of `lateFeesExempt` clients. The fee is a line of the invoice (untaxed), so
    its total and balance rise by it; an invoice whose total it would take past what
    NUMERIC(14, 2) holds is left out, rather than fail the statement for every invoice."""
    if settings.late_fee_days == 0:
        return LateFees(added=0, too_large=[])
    row = await conn.fetchrow(
        """WITH due AS (
               SELECT i.id, i.number, i.total,
                      greatest($4::numeric, CASE WHEN $2 THEN round(i.total * $3 / 100, 2)
                                                 ELSE $3::numeric END) AS fee
                 FROM invoices i JOIN clients c ON c.id = i.client_id
                WHERE i.status = 'UNPAID' AND i.balance > 0 AND NOT i.late_fee_added
                  AND NOT c.late_fees_exempt AND i.due_date <= $1::date - $5::int
                  FOR UPDATE OF i
           ), fees AS (
               SELECT * FROM due WHERE fee > 0 AND total + fee <= $6
           ), lines AS (
               INSERT INTO invoice_items (invoice_id, description, amount, taxed)
               SELECT id, 'Late Fee', fee, false FROM fees
           ), charged AS (
               UPDATE invoices i SET subtotal = i.subtotal + f.fee, late_fee_added = true
                 FROM fees f WHERE i.id = f.id
               RETURNING 1
           )
           SELECT (SELECT count(*) FROM charged) AS added,
                  (SELECT coalesce(array_agg(number ORDER BY number), '{}') FROM due
                    WHERE fee > 0 AND total + fee > $6) AS too_large""",
        as_of,
        settings.late_fee_type is LateFeeType.PERCENTAGE,
        settings.late_fee_amount,
        settings.late_fee_minimum,
        settings.late_fee_days,
        MAX_AMOUNT,
    )
    return LateFees(added=row["added"], too_large=row["too_large"])
