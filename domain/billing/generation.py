"""Invoice generation (SPEC 9.5), the domain service the daily automation calls.

Set-based: a handful of statements whatever the number of due items. Services, addons and
domains due within `createInvoiceDaysBefore` of the run date are invoiced one period each,
grouped per client, due date and payment method (one invoice per item for clients with
`separateInvoices`, SPEC 1.5), taxed unless the client is exempt, with credit applied unless
the installation turned that off (SPEC 3.5); their next due date then moves one cycle on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import asyncpg

from domain.billing.invoices import (
    BILLED_TO_SQL,
    BILLING_JOIN,
    TAX_RATE_SQL,
    period_description_sql,
    settle_priced_invoices,
    tax_sql,
)
from domain.money import MAX_AMOUNT
from domain.settings import get_general_settings


@dataclass(frozen=True)
class TooLargeInvoice:
    """An invoice the run did not make: its total is more than an invoice can hold."""

    client_id: int
    due_date: date
    total: Decimal


@dataclass(frozen=True)
class GenerationResult:
    invoices_created: int
    items_invoiced: int
    # Their items stay due (not moved on), to be invoiced once staff correct their prices.
    too_large: tuple[TooLargeInvoice, ...] = ()


def _due(table: str, kind: str, statuses: str, renewing: str = "true") -> str:
    # Locked, so that a second run at the same time waits and then finds them moved on.
    return f"""SELECT '{kind}'::text AS kind, id, client_id, name, amount, billing_cycle,
                      next_due_date, payment_method
                 FROM {table} t WHERE status IN ({statuses}) AND next_due_date <= $1
                  AND {renewing}
                FOR UPDATE"""


# SPEC 14.2: a service whose cancellation is requested is not invoiced again, nor are its
# addons, nor an addon whose own is; a domain renews only when it auto-renews.
def _not_being_cancelled(column: str, item_id: str) -> str:
    return f"""NOT EXISTS (SELECT 1 FROM cancellation_requests r
                        WHERE r.{column} = {item_id} AND r.status = 'PENDING')"""


_BILLED = "'ACTIVE', 'SUSPENDED'"
_ADDON_RENEWS = (
    f"{_not_being_cancelled('service_id', 't.service_id')} "
    f"AND {_not_being_cancelled('addon_id', 't.id')}"
)
_SELECT_DUE_ITEMS = f"""
CREATE TEMP TABLE due_items ON COMMIT DROP AS
WITH s AS ({_due("services", "SERVICE", _BILLED, _not_being_cancelled("service_id", "t.id"))}),
     a AS ({_due("addons", "ADDON", _BILLED, _ADDON_RENEWS)}),
     d AS ({_due("domains", "DOMAIN", "'ACTIVE'", "t.auto_renew")}),
     due AS (SELECT * FROM s UNION ALL SELECT * FROM a UNION ALL SELECT * FROM d)
SELECT due.*,
       -- Items sharing a group number share an invoice; NULLs group together in a window.
       dense_rank() OVER (
           ORDER BY due.client_id, due.next_due_date, due.payment_method,
                    CASE WHEN c.separate_invoices THEN due.id END
       ) AS group_no
  FROM due JOIN clients c ON c.id = due.client_id"""

# Invoice ids are drawn up front, in group order, so items can be joined to their invoice.
# Every line of a generated invoice is taxed: its subtotal is also the taxed amount.
_NUMBER_GROUPS = """
CREATE TEMP TABLE due_invoices ON COMMIT DROP AS
SELECT nextval(pg_get_serial_sequence('invoices', 'id')) AS invoice_id, g.*
  FROM (SELECT group_no, client_id, next_due_date, payment_method, sum(amount) AS subtotal
          FROM due_items GROUP BY group_no, client_id, next_due_date, payment_method
         ORDER BY group_no) g"""

# Invoices whose total NUMERIC(14, 2) cannot hold are left out, with their items, rather
# than fail the whole statement below (and with it every client's invoices, every day).
# A rate is at most 100 %, so only a subtotal above half the maximum can get there: the
# tax rate is looked up for those alone.
_LEAVE_OUT_TOO_LARGE = f"""
WITH priced AS (
    SELECT di.group_no, di.client_id, di.next_due_date,
           di.subtotal + {tax_sql("di.subtotal", f"({TAX_RATE_SQL})")} AS total
      FROM due_invoices di JOIN clients c ON c.id = di.client_id
     WHERE di.subtotal * 2 > $1
), too_large AS (
    DELETE FROM due_invoices di USING priced p WHERE di.group_no = p.group_no AND p.total > $1
    RETURNING p.client_id, p.next_due_date, p.total, p.group_no
), items_left AS (
    DELETE FROM due_items i USING too_large t WHERE i.group_no = t.group_no
)
SELECT client_id, next_due_date AS due_date, total FROM too_large
 ORDER BY client_id, next_due_date"""

# Written priced: an invoice row updated after its insert is a second row version, with
# its index entries, per invoice.
_INSERT_INVOICES = f"""
INSERT INTO invoices
    (id, client_id, due_date, payment_method, currency, billed_to, tax_rate, subtotal, tax)
SELECT di.invoice_id, c.id, di.next_due_date, di.payment_method, c.currency, {BILLED_TO_SQL},
       t.rate,
       di.subtotal, {tax_sql("di.subtotal", "t.rate")}
  FROM due_invoices di JOIN clients c ON c.id = di.client_id {BILLING_JOIN}
 CROSS JOIN LATERAL (SELECT {TAX_RATE_SQL} AS rate OFFSET 0) t  -- once per row, not twice
 ORDER BY di.invoice_id"""

# An invoice lists its services, then its addons, then its domains, each kind in the order
# it was ordered (ids): the lines' ids follow this order, which is the order they are read in.
# Without it they followed the join's output, which changes with the plan.
_INSERT_ITEMS = f"""
INSERT INTO invoice_items
    (invoice_id, item_kind, item_id, period_start, description, amount, taxed)
SELECT di.invoice_id, i.kind, i.id, i.next_due_date,
       {period_description_sql("i.name", "i.next_due_date", "i.billing_cycle")}, i.amount, true
  FROM due_items i JOIN due_invoices di USING (group_no)
 ORDER BY di.invoice_id, array_position(ARRAY['SERVICE', 'ADDON', 'DOMAIN'], i.kind), i.id"""

_ADVANCE = """
WITH s AS (UPDATE services t SET next_due_date = (t.next_due_date
               + billing_cycle_interval(t.billing_cycle))::date
             FROM due_items i WHERE i.kind = 'SERVICE' AND t.id = i.id),
     a AS (UPDATE addons t SET next_due_date = (t.next_due_date
               + billing_cycle_interval(t.billing_cycle))::date
             FROM due_items i WHERE i.kind = 'ADDON' AND t.id = i.id)
UPDATE domains t SET next_due_date = (t.next_due_date
           + billing_cycle_interval(t.billing_cycle))::date
  FROM due_items i WHERE i.kind = 'DOMAIN' AND t.id = i.id"""


async def generate_invoices(
    conn: asyncpg.Connection, *, as_of: date, days_before: int | None = None
) -> GenerationResult:
    """Invoice what falls due within the setting's days of `as_of` (or `days_before`).

    Called inside a transaction, its temporary table `due_invoices` (`invoice_id`,
    `client_id`, `next_due_date`, `payment_method` of each new invoice) lasts until that
    transaction ends: the daily automation queues the new invoices' emails from it."""
    settings = await get_general_settings(conn)
    ahead = settings.create_invoice_days_before if days_before is None else days_before
    async with conn.transaction():
        await conn.execute(_SELECT_DUE_ITEMS, as_of + timedelta(days=ahead))
        await conn.execute(_NUMBER_GROUPS)
        too_large = await conn.fetch(_LEAVE_OUT_TOO_LARGE, MAX_AMOUNT)
        await conn.execute(_INSERT_INVOICES)
        await conn.execute(_INSERT_ITEMS)
        await conn.execute(_ADVANCE)
        row = await conn.fetchrow(
            """SELECT coalesce(array_agg(invoice_id), '{}') AS ids,
                      (SELECT count(*) FROM due_items) AS items
                 FROM due_invoices"""
        )
        if row["ids"]:
            await settle_priced_invoices(
                conn, row["ids"], apply_credit=settings.apply_credit_automatically
            )
        return GenerationResult(
            invoices_created=len(row["ids"]),
            items_invoiced=row["items"],
            too_large=tuple(TooLargeInvoice(**dict(r)) for r in too_large),
        )
