"""Commissions earned and reversed (SPEC 14.3), called by billing where invoices become PAID
and where payments are refunded.

Earning is one statement over any number of invoices (the generation run settles thousands at
once): each PAID invoice of a referred client earns its affiliate one commission, at most one
per invoice ever (a unique invoice id), so paying an invoice again after a refund earns no
second one. Its email, in the AFFILIATE category, goes to the affiliate's client; it is
queued without a client-area address (none is at hand where invoices become PAID), and the
worker links it under its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.emails.outbox import queue_client_email
from domain.money import format_amount
from domain.settings import get_general_settings

_EARN = """
WITH earned AS (
    INSERT INTO affiliate_commissions (affiliate_id, invoice_id, invoice_number, amount, currency)
    SELECT r.affiliate_id, i.id, i.number,
           CASE WHEN $2 = 'PERCENTAGE' THEN round(i.subtotal * $3 / 100, 2) ELSE $3 END,
           i.currency
      FROM invoices i JOIN affiliate_referrals r ON r.client_id = i.client_id
     WHERE i.id = ANY($1::bigint[]) AND i.status = 'PAID'
       AND CASE WHEN $2 = 'PERCENTAGE' THEN round(i.subtotal * $3 / 100, 2) ELSE $3 END > 0
     ORDER BY i.id
        ON CONFLICT (invoice_id) DO NOTHING
    RETURNING affiliate_id, invoice_number, amount, currency
)
SELECT a.client_id, e.invoice_number, e.amount, e.currency,
       c.first_name, c.last_name, c.email, c.company_name
  FROM earned e JOIN affiliates a ON a.id = e.affiliate_id JOIN clients c ON c.id = a.client_id
"""


async def earn_commissions(conn: asyncpg.Connection, invoice_ids: Sequence[int]) -> int:
    """The commissions the PAID ones of `invoice_ids` earn, written with their emails; how
    many were earned."""
    settings = await get_general_settings(conn)
    earned = await conn.fetch(
        _EARN,
        list(invoice_ids),
        settings.affiliate_commission_type.value,
        settings.affiliate_commission,
    )
    for row in earned:
        await queue_client_email(
            conn,
            row["client_id"],
            template="affiliate_commission_earned",
            context={
                "client": {
                    "first_name": row["first_name"],
                    "last_name": row["last_name"],
                    "email": row["email"],
                    "company_name": row["company_name"],
                },
                "commission": {
                    "amount": format_amount(row["amount"]),
                    "currency": row["currency"],
                    "invoice_number": row["invoice_number"],
                },
            },
        )
    return len(earned)


async def reverse_commission(conn: asyncpg.Connection, invoice_id: int) -> None:
    """A payment of the invoice was refunded: its commission, if any, no longer counts
    towards the balance (once paid out, the balance goes below zero by it)."""
    await conn.execute(
        """UPDATE affiliate_commissions SET reversed_at = now()
            WHERE invoice_id = $1 AND reversed_at IS NULL""",
        invoice_id,
    )
