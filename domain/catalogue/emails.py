"""The emails of orders, services and domains (SPEC 8.1, 14): the order confirmation, the
service welcome, suspension and cancellation confirmation (PRODUCT), and the domain
registration confirmation and renewal notice (DOMAIN). Each goes to the client with copies to
the contacts who ticked its category (SPEC 8.3), queued in the transaction of its cause."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from domain.billing.models import ItemKind
from domain.emails.outbox import queue_client_email, with_contact_copies_sql
from domain.emails.templates import TEMPLATES, EmailCategory
from domain.money import format_amount

_CLIENT = """SELECT first_name, last_name, email::text, company_name, currency
               FROM clients WHERE id = $1"""


async def _context(
    conn: asyncpg.Connection, client_id: int, client_area_url: str
) -> tuple[dict[str, Any], str]:
    row = await conn.fetchrow(_CLIENT, client_id)
    client = {k: row[k] for k in ("first_name", "last_name", "email", "company_name")}
    return {"client": client, "client_area_url": client_area_url}, row["currency"]


async def queue_item_emails(
    conn: asyncpg.Connection,
    template: str,
    kind: ItemKind,
    item_ids: Sequence[int],
    *,
    client_area_url: str,
) -> int:
    """The template about each item (services, addons or domains of `kind`) to its client,
    with copies to the contacts who ticked its category, in one statement however many (the
    daily run's renewal notices and cancellations); how many items got one."""
    category = TEMPLATES[template].category
    # Never an invoice or account email: those go to the billing contact or to their owner
    # alone (queue_client_email), not to the client with copies.
    assert category is not EmailCategory.INVOICE and category is not EmailCategory.ACCOUNT
    auto_renew = "d.auto_renew" if kind is ItemKind.DOMAIN else "false"
    main = f"""
        SELECT d.client_id, NULL::bigint AS contact_id, $3::text AS template,
               c.email::text AS to_address, c.first_name || ' ' || c.last_name AS to_name,
               jsonb_build_object(
                   'client', jsonb_build_object(
                       'first_name', c.first_name, 'last_name', c.last_name,
                       'email', c.email, 'company_name', c.company_name),
                   'client_area_url', $2::text,
                   'item', jsonb_build_object(
                       'name', d.name, 'amount', round(d.amount, 2)::text,
                       'currency', c.currency, 'billing_cycle', d.billing_cycle,
                       'next_due_date', d.next_due_date, 'auto_renew', {auto_renew})
               ) AS context,
               NULL::text AS dedupe_key
          FROM {kind.table} d JOIN clients c ON c.id = d.client_id
         WHERE d.id = ANY($1::bigint[])"""
    count: int = await conn.fetchval(
        with_contact_copies_sql(main, category), list(item_ids), client_area_url, template
    )
    return count


async def queue_order_confirmation(
    conn: asyncpg.Connection, order_id: int, *, client_area_url: str
) -> None:
    order = await conn.fetchrow(
        """SELECT o.client_id, o.currency, i.number, i.total, i.balance
             FROM orders o JOIN invoices i ON i.id = o.invoice_id WHERE o.id = $1""",
        order_id,
    )
    lines = []
    for kind in ItemKind:
        lines += await conn.fetch(
            f"""SELECT id, name, amount, billing_cycle FROM {kind.table}
                 WHERE order_id = $1""",
            order_id,
        )
    context, _ = await _context(conn, order["client_id"], client_area_url)
    context["order"] = {
        "number": order_id,
        "currency": order["currency"],
        "lines": [
            {
                "name": line["name"],
                "amount": format_amount(line["amount"]),
                "billing_cycle": line["billing_cycle"],
            }
            for line in sorted(lines, key=lambda line: line["id"])
        ],
        "invoice_number": order["number"],
        "total": format_amount(order["total"]),
        "balance": format_amount(order["balance"]),
    }
    await queue_client_email(
        conn, order["client_id"], template="order_confirmation", context=context
    )


async def queue_domain_renewal_notices(
    conn: asyncpg.Connection, *, as_of: date, offsets: Sequence[int], client_area_url: str
) -> int:
    """The renewal notice of each active domain expiring `offset` days after `as_of`, for
    each offset of the settings (0: off); how many were queued. A run is once per date
    (SPEC 9.6), so each notice goes once."""
    days = [offset for offset in offsets if offset > 0]
    if not days:
        return 0
    ids = await conn.fetchval(
        """SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM domains
            WHERE status = 'ACTIVE' AND next_due_date - $1::date = ANY($2::int[])""",
        as_of,
        days,
    )
    return await queue_item_emails(
        conn, "domain_renewal_notice", ItemKind.DOMAIN, ids, client_area_url=client_area_url
    )
