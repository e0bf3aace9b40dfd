"""SPEC 12.3: the dashboard's counters equal a plain COUNT/SUM over the tables after every
write path (migration 0030's triggers). Paths the API has no use case for yet (closing a
ticket, cancelling or refunding an invoice, a worker marking an email sent or failed) are
written as the SQL such a use case would run: the triggers see only rows."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest

from domain import dashboard
from domain.automation.settings import get_automation_settings, update_automation_settings
from domain.billing import invoices
from domain.clients import deletion, merge
from domain.clients import services as clients
from domain.clients.models import ClientStatus
from domain.credit import services as credit
from domain.dashboard import CurrencyTotal, Figure, Interval
from domain.errors import DomainError
from domain.tickets import services as tickets
from tests.conftest import add_client, pay_by_transfer
from tests.domain.test_tickets import CLIENT_AREA, add_staff

LONG_AGO = date(2000, 1, 1)
FAR_AHEAD = date(2100, 1, 1)


async def figures(conn: asyncpg.Connection) -> dict[str, object]:
    """Every figure as the dashboard reads it from its counters, in one statement."""
    settings = await get_automation_settings(conn)
    today = dashboard.today(settings)
    days = dashboard.income_range(today - timedelta(days=3), today, Interval.DAY)
    read = await dashboard.read(conn, [*Figure, days], settings)
    return {
        "clients": read.clients_by_status,
        "unpaid": read.invoices[Figure.UNPAID],
        "overdue": read.invoices[Figure.OVERDUE],
        "income": [(p.start, p.totals) for p in read.income[days]],
        "tickets": (read.counts[Figure.OPEN_TICKETS], read.counts[Figure.AWAITING_REPLY]),
        "emails": (read.counts[Figure.QUEUED_EMAILS], read.counts[Figure.FAILED_EMAILS]),
    }


async def counted(conn: asyncpg.Connection) -> dict[str, object]:
    """The same figures counted and summed over the rows themselves."""
    today = dashboard.today(await get_automation_settings(conn))
    statuses = dict(await conn.fetch("SELECT status, count(*) FROM clients GROUP BY status"))

    async def unpaid(due_before: date) -> dashboard.InvoiceFigures:
        rows = await conn.fetch(
            """SELECT currency, count(*) AS n, sum(balance) AS amount FROM invoices
                WHERE status = 'UNPAID' AND due_date < $1
                GROUP BY currency ORDER BY currency""",
            due_before,
        )
        return dashboard.InvoiceFigures(
            count=sum(row["n"] for row in rows),
            totals=[CurrencyTotal(row["currency"], row["amount"]) for row in rows],
        )

    zone = (await get_automation_settings(conn)).time_zone
    income = []
    for back in range(3, -1, -1):
        day = today - timedelta(days=back)
        rows = await conn.fetch(
            """SELECT currency, sum(amount) AS amount FROM transactions
                WHERE (date AT TIME ZONE $2)::date = $1 GROUP BY currency ORDER BY currency""",
            day,
            zone,
        )
        income.append((day, [CurrencyTotal(row["currency"], row["amount"]) for row in rows]))
    ticket_row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status <> 'CLOSED') AS open,
                  count(*) FILTER (WHERE status IN ('OPEN', 'CUSTOMER_REPLY')) AS waiting
             FROM tickets"""
    )
    email_row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL) AS queued,
                  count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed FROM emails"""
    )
    return {
        "clients": {status: statuses.get(status.value, 0) for status in ClientStatus},
        "unpaid": await unpaid(FAR_AHEAD),
        "overdue": await unpaid(today),
        "income": income,
        "tickets": (ticket_row["open"], ticket_row["waiting"]),
        "emails": (email_row["queued"], email_row["failed"]),
    }


async def assert_exact(conn: asyncpg.Connection, after: str) -> None:
    assert await figures(conn) == await counted(conn), f"drift after {after}"


async def test_12_3_the_dashboard_figures_stay_exact_through_every_write_path(
    conn: asyncpg.Connection,
) -> None:
    await assert_exact(conn, "nothing")
    joe = await add_client(conn, currency="EUR", send_welcome_email=True)
    ann = await add_client(conn, first_name="Ann", email="ann@example.com", currency="USD")
    await assert_exact(conn, "adding clients (a welcome email queued)")
    await clients.set_client_status(conn, ann.id, ClientStatus.CLOSED, staff_id=None)
    await assert_exact(conn, "a status change")

    today = date.today()
    overdue = await invoices.create_invoice(
        conn,
        joe.id,
        items=[{"description": "Setup", "amount": "100.00"}],
        due_date=today - timedelta(days=10),
        payment_method=None,
        staff_id=None,
    )
    due = await invoices.create_invoice(
        conn,
        ann.id,
        items=[{"description": "Hosting", "amount": "30.50"}],
        due_date=today + timedelta(days=5),
        payment_method=None,
        staff_id=None,
    )
    await assert_exact(conn, "creating invoices")
    await pay_by_transfer(conn, overdue.id, "40.00")
    await assert_exact(conn, "a part payment")
    staff_login = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('x@s.example') RETURNING id"
    )
    await credit.add_credit(
        conn, ann.id, amount="50.00", description="Goodwill", staff_id=None, login_id=staff_login
    )
    credited = await invoices.create_invoice(
        conn,
        ann.id,
        items=[{"description": "Domain", "amount": "12.00"}],
        due_date=today - timedelta(days=1),
        payment_method=None,
        staff_id=None,
    )
    await assert_exact(conn, "an invoice paid by the credit applied to it")
    await pay_by_transfer(conn, due.id, "50.00")
    await assert_exact(conn, "an overpayment (paid, the excess credited)")
    await conn.execute("UPDATE invoices SET status = 'CANCELLED' WHERE id = $1", credited.id)
    await assert_exact(conn, "cancelling an invoice")
    refunded = await conn.fetchval("SELECT id FROM transactions WHERE invoice_id = $1", due.id)
    await conn.execute("UPDATE transactions SET amount = amount - 20 WHERE id = $1", refunded)
    await conn.execute("UPDATE invoices SET status = 'REFUNDED' WHERE id = $1", due.id)
    await assert_exact(conn, "a partial refund")

    # A billed client keeps its currency (SPEC 1.6); an invoice keeps its own whatever the
    # client's, so the buckets never move with the client's.
    with pytest.raises(DomainError):
        await clients.update_client(conn, joe.id, {"currency": "USD"}, staff_id=None)
    await conn.execute("UPDATE clients SET currency = 'USD' WHERE id = $1", joe.id)
    await assert_exact(conn, "a client's currency changed under its invoices")
    await update_automation_settings(conn, time_zone="Pacific/Kiritimati")
    await assert_exact(conn, "a change of the installation's time zone")

    staff_id = await add_staff(conn)
    ticket = await tickets.open_ticket(
        conn,
        await tickets.writer_of_viewer(conn, joe.id, None),
        "Help",
        "Down.",
        client_area_url=CLIENT_AREA,
    )
    await assert_exact(conn, "opening a ticket")
    await tickets.reply_to_ticket(
        conn, ticket.id, "Up.", staff_id=staff_id, client_area_url=CLIENT_AREA
    )
    await assert_exact(conn, "a staff reply (and its email queued)")
    await conn.execute("UPDATE tickets SET status = 'CUSTOMER_REPLY' WHERE id = $1", ticket.id)
    await assert_exact(conn, "the client writing again")
    await conn.execute("DELETE FROM tickets WHERE id = $1", ticket.id)
    await assert_exact(conn, "a ticket removed")

    first, second = await conn.fetch("SELECT id FROM emails ORDER BY id LIMIT 2")
    await conn.execute("UPDATE emails SET sent_at = now() WHERE id = $1", first["id"])
    await conn.execute("UPDATE emails SET failed_at = now() WHERE id = $1", second["id"])
    await assert_exact(conn, "an email sent and one failed")

    bob = await add_client(conn, first_name="Bob", email="bob@example.com", currency="USD")
    await invoices.create_invoice(
        conn,
        bob.id,
        items=[{"description": "Setup", "amount": "7.25"}],
        due_date=today - timedelta(days=2),
        payment_method=None,
        staff_id=None,
    )
    await merge.merge_clients(
        conn, joe.id, bob.id, merge.MergeKeep.FIRST, keyring=None, staff_id=None
    )
    await assert_exact(conn, "a merge")
    await deletion.delete_client(conn, joe.id, staff_id=None)
    await assert_exact(conn, "deleting a client with unpaid invoices")
    await invoices.create_invoice(
        conn,
        ann.id,
        items=[{"description": "Hosting", "amount": "80.00"}],
        due_date=today - timedelta(days=3),
        payment_method=None,
        staff_id=None,
    )
    await conn.execute("DELETE FROM clients WHERE id = $1", ann.id)
    await assert_exact(conn, "a client deleted with its invoices by the cascade")


async def test_income_lists_every_period_with_refunds_subtracted(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, currency="EUR")
    invoice = await invoices.create_invoice(
        conn,
        client.id,
        items=[{"description": "Setup", "amount": "100.00"}],
        due_date=None,
        payment_method=None,
        staff_id=None,
    )
    await pay_by_transfer(conn, invoice.id, "60.00")
    await conn.execute("UPDATE transactions SET amount = 45.00")
    today = date.today()
    months = dashboard.income_range(today.replace(day=1) - timedelta(days=1), today, Interval.MONTH)
    read = await dashboard.read(conn, [months], await get_automation_settings(conn))
    assert [p.totals for p in read.income[months]] == [[], [CurrencyTotal("EUR", Decimal("45.00"))]]
