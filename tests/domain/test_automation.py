"""SPEC 9.1–9.6: the daily run, with `as_of` dates on each side of every boundary."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from app.seed import seed_clients
from domain.automation import runs
from domain.automation.client_status import StatusChanges, update_client_statuses
from domain.automation.settings import (
    AutomationSettings,
    get_automation_settings,
    update_automation_settings,
)
from domain.billing import invoices, items
from domain.billing.models import InvoiceStatus, ItemKind, ServiceStatus
from domain.billing.testcard import TestCardGateway
from domain.cards.crypto import CardKeyring
from domain.cards.services import save_card
from domain.clients.models import Client
from domain.contacts import services as contacts
from domain.errors import DomainError
from tests.conftest import CARD_KEY, CLIENT_AREA_URL, add_client, gid
from tests.domain.test_billing_generation import active_order, due_date_of
from tests.domain.test_clients import field_errors

D = Decimal
TODAY = date.today()
TOOLS = runs.RunTools(
    gateways={"testcard": TestCardGateway()},
    card_keyring=CardKeyring.parse(CARD_KEY),
    client_area_url="https://clients.example.com",
)


async def run(conn: asyncpg.Connection, as_of: date) -> runs.AutomationRun:
    return await runs.perform_run(conn, as_of, TOOLS)


async def statuses(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch("SELECT email::text, status FROM clients")
    return {row["email"]: row["status"] for row in rows}


async def emails(conn: asyncpg.Connection, template: str | None = None) -> list[tuple[str, str]]:
    """(template, recipient) of every queued email (of `template`), oldest first."""
    rows = await conn.fetch(
        """SELECT template, to_address FROM emails
            WHERE template = coalesce($1, template) ORDER BY id""",
        template,
    )
    return [(row["template"], row["to_address"]) for row in rows]


async def unpaid_invoice(
    conn: asyncpg.Connection, client: Client, due: date, amount: str = "100.00"
) -> invoices.Invoice:
    return await invoices.create_invoice(
        conn,
        client.id,
        items=[{"description": "Consulting", "amount": amount}],
        due_date=due,
        payment_method="banktransfer",
        staff_id=None,
    )


# --- 9.1–9.3 client status -----------------------------------------------------------------


async def test_9_1_clients_without_active_items_become_inactive_and_closed_ones_are_left(
    conn: asyncpg.Connection,
) -> None:
    await add_client(conn, email="nothing@example.com")
    await add_client(conn, email="closed@example.com")
    await conn.execute("UPDATE clients SET status = 'CLOSED' WHERE email = 'closed@example.com'")
    for email, kind, status in [
        ("suspended@example.com", ItemKind.SERVICE, ServiceStatus.SUSPENDED),
        ("addon@example.com", ItemKind.ADDON, ServiceStatus.ACTIVE),
        ("terminated@example.com", ItemKind.SERVICE, ServiceStatus.TERMINATED),
    ]:
        client = await add_client(conn, email=email)
        order = await active_order(conn, client, (kind, "Item", "1.00"))
        await items.set_service_status(
            conn, order.items[0].id, status, staff_id=None, client_area_url=CLIENT_AREA_URL
        )
    transferring = await add_client(conn, email="transfer@example.com")
    order = await active_order(conn, transferring, (ItemKind.DOMAIN, "a.com", "9.00"))
    await conn.execute("UPDATE domains SET status = 'PENDING_TRANSFER'")

    result = await run(conn, TODAY)

    assert await statuses(conn) == {
        "nothing@example.com": "INACTIVE",
        "closed@example.com": "CLOSED",
        "suspended@example.com": "ACTIVE",
        "addon@example.com": "ACTIVE",
        "terminated@example.com": "INACTIVE",
        "transfer@example.com": "ACTIVE",
    }
    assert result.count("clients_deactivated") == 2


async def updates_of_status_change(
    conn: asyncpg.Connection,
) -> tuple[StatusChanges, int, int]:
    """The status step's changes, and how many clients rows it updated, how many of those HOT."""
    settings = await get_automation_settings(conn)
    # The backend's counts not flushed yet, earlier transactions' included: compare.
    count_updates = """SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables
                        WHERE relname = 'clients'"""
    async with conn.transaction():
        before = await conn.fetchrow(count_updates)
        changes = await update_client_statuses(conn, as_of=TODAY, settings=settings)
        after = await conn.fetchrow(count_updates)
    updated = after["n_tup_upd"] - before["n_tup_upd"]
    return changes, updated, after["n_tup_hot_upd"] - before["n_tup_hot_upd"]


async def test_9_1_a_status_change_writes_only_changed_clients_and_no_index(
    conn: asyncpg.Connection,
) -> None:
    """At a million clients, status changes that rewrote every index of the table (the
    trigram one too) cost seconds; they are HOT updates now, and only of changed clients."""
    await add_client(conn, email="nothing@example.com")
    holder = await add_client(conn, email="holder@example.com")
    await active_order(conn, holder, (ItemKind.SERVICE, "Hosting", "10.00"))

    changes, updated, hot = await updates_of_status_change(conn)

    assert changes == StatusChanges(deactivated=1, activated=0)
    assert (updated, hot) == (1, 1)


async def test_9_1_a_quarter_of_every_page_changing_status_stays_on_its_pages(
    conn: asyncpg.Connection,
) -> None:
    """The first run on an installation can change a quarter of all clients: each page keeps
    room for that many new row versions (migration 0020), or the rest are written elsewhere
    with an entry in every index of clients (at 80 % fill, a million clients: twice the time
    and WAL)."""
    await seed_clients(conn, 400, seed=1)
    await conn.execute(
        "UPDATE clients SET status = CASE WHEN id % 4 = 0 THEN 'ACTIVE' ELSE 'INACTIVE' END"
    )
    await conn.execute("VACUUM FULL clients")  # pages as the seed wrote them, statuses set

    changes, updated, hot = await updates_of_status_change(conn)

    assert changes == StatusChanges(deactivated=100, activated=0)
    assert (updated, hot) == (100, 100)


@pytest.mark.parametrize(("days_before_three_months", "status"), [(1, "INACTIVE"), (-1, "ACTIVE")])
async def test_9_2_option_sets_clients_without_a_login_for_three_months_inactive(
    conn: asyncpg.Connection, days_before_three_months: int, status: str
) -> None:
    client = await add_client(conn)
    await active_order(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"))
    three_months_ago = date(TODAY.year - (TODAY.month <= 3), (TODAY.month - 4) % 12 + 1, 1)
    as_of = date(TODAY.year, TODAY.month, 1)
    last_login = three_months_ago - timedelta(days=days_before_three_months)
    await conn.execute(
        "UPDATE logins SET last_login_at = $1::date + time '12:00'",
        last_login,
    )
    await conn.execute("UPDATE clients SET created_at = $1::date - 365", as_of)
    await update_automation_settings(conn, inactive_after_three_months_without_login=True)

    await run(conn, as_of)

    assert await statuses(conn) == {"joe@example.com": status}


async def test_9_2_the_switch_turns_the_status_change_off(conn: asyncpg.Connection) -> None:
    await add_client(conn)
    await update_automation_settings(conn, change_client_status=False)

    result = await run(conn, TODAY)

    assert await statuses(conn) == {"joe@example.com": "ACTIVE"}
    assert result.count("clients_deactivated") == 0


async def test_9_3_a_client_who_buys_again_is_active_on_the_next_run(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await run(conn, TODAY - timedelta(days=1))
    assert await statuses(conn) == {"joe@example.com": "INACTIVE"}

    await active_order(conn, client, (ItemKind.DOMAIN, "a.com", "9.00"))
    result = await run(conn, TODAY)

    assert await statuses(conn) == {"joe@example.com": "ACTIVE"}
    assert result.count("clients_activated") == 1


# --- 9.4 notices and late fees -------------------------------------------------------------


@pytest.mark.parametrize(("days_before_due", "sent"), [(8, 0), (7, 1), (1, 1), (0, 0)])
async def test_9_4_the_payment_reminder_goes_from_seven_days_before_the_due_date(
    conn: asyncpg.Connection, days_before_due: int, sent: int
) -> None:
    client = await add_client(conn)
    due = TODAY + timedelta(days=30)
    await unpaid_invoice(conn, client, due)

    result = await run(conn, due - timedelta(days=days_before_due))

    assert result.count("reminders_sent") == sent
    assert len(await emails(conn, "invoice_payment_reminder")) == sent


async def test_9_4_overdue_notices_go_once_each_on_their_day_and_a_repeated_run_adds_none(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    due = TODAY - timedelta(days=30)
    await unpaid_invoice(conn, client, due)
    sent_by_day = {}
    for day in range(-8, 10):
        as_of = due + timedelta(days=day)
        await conn.execute("DELETE FROM automation_runs")  # each date as if the first time
        await run(conn, as_of)
        await run(conn, as_of)
        sent_by_day[day] = [template for template, _ in await emails(conn)]

    def new_on(day: int) -> list[str]:
        return sent_by_day[day][len(sent_by_day[day - 1]) :]

    assert new_on(-7) == ["invoice_payment_reminder"]
    assert [day for day in range(-7, 10) if new_on(day)] == [-7, 1, 3, 7]
    assert (new_on(1), new_on(3), new_on(7)) == (
        ["invoice_first_overdue_notice"],
        ["invoice_second_overdue_notice"],
        ["invoice_third_overdue_notice"],
    )


async def test_9_4_a_missed_day_catches_up_with_the_latest_notice_only(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    due = TODAY - timedelta(days=30)
    await unpaid_invoice(conn, client, due)

    await run(conn, due + timedelta(days=20))

    assert await emails(conn) == [("invoice_third_overdue_notice", "joe@example.com")]


async def test_1_5_overdue_notices_disabled_still_gets_the_reminder_and_zero_turns_a_notice_off(
    conn: asyncpg.Connection,
) -> None:
    quiet = await add_client(conn, email="quiet@example.com", overdue_notices_disabled=True)
    other = await add_client(conn, email="other@example.com")
    due = TODAY - timedelta(days=30)
    for client in (quiet, other):
        await unpaid_invoice(conn, client, due)
    await update_automation_settings(conn, first_overdue_notice_days=0)

    await run(conn, due - timedelta(days=7))
    await run(conn, due + timedelta(days=1))
    await run(conn, due + timedelta(days=3))

    assert sorted(await emails(conn)) == [
        ("invoice_payment_reminder", "other@example.com"),
        ("invoice_payment_reminder", "quiet@example.com"),
        ("invoice_second_overdue_notice", "other@example.com"),
    ]


async def test_8_3_invoice_notices_go_to_the_billing_contact_with_copies_to_invoice_contacts(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    billing = await contacts.add_contact(
        conn,
        client.id,
        {"first_name": "Bill", "last_name": "Ing", "email": "billing@example.com"},
        staff_id=None,
        may_grant_access=False,
    )
    await contacts.add_contact(
        conn,
        client.id,
        {
            "first_name": "Ann",
            "last_name": "Counts",
            "email": "accounts@example.com",
            "email_preferences": {"INVOICE": True},
        },
        staff_id=None,
        may_grant_access=False,
    )
    await conn.execute("UPDATE clients SET billing_contact_id = $1", billing.id)
    due = TODAY + timedelta(days=7)
    invoice = await unpaid_invoice(conn, client, due)

    await run(conn, TODAY)

    assert await emails(conn) == [
        ("invoice_payment_reminder", "billing@example.com"),
        ("invoice_payment_reminder", "accounts@example.com"),
    ]
    context = await conn.fetchval("SELECT context FROM emails ORDER BY id LIMIT 1")
    assert context["client"]["first_name"] == "Bill"
    assert context["invoice"]["number"] == invoice.number
    assert context["invoice"]["id"] == gid("Invoice", invoice.id)  # as the API names it


@pytest.mark.parametrize(("days_late", "fee"), [(4, None), (5, "10.00"), (6, "10.00")])
async def test_9_4_a_late_fee_is_added_once_after_n_days_with_its_minimum(
    conn: asyncpg.Connection, days_late: int, fee: str | None
) -> None:
    client = await add_client(conn)
    exempt = await add_client(conn, email="exempt@example.com", late_fees_exempt=True)
    due = TODAY - timedelta(days=30)
    invoice = await unpaid_invoice(conn, client, due, "50.00")
    spared = await unpaid_invoice(conn, exempt, due, "50.00")
    # 10 % of 50.00 is 5.00, below the minimum of 10.00.
    await update_automation_settings(conn, late_fee_amount=D("10.00"), late_fee_minimum=D("10.00"))

    for day in range(4, days_late + 1):
        await run(conn, due + timedelta(days=day))
    await conn.execute("DELETE FROM automation_runs")
    await run(conn, due + timedelta(days=days_late))

    charged = await invoices.get_invoice(conn, invoice.id)
    untouched = await invoices.get_invoice(conn, spared.id)
    assert charged is not None and untouched is not None
    expected = D("50.00") + D(fee or "0")
    assert (charged.total, charged.balance) == (expected, expected)
    assert untouched.total == D("50.00")


async def test_9_4_a_percentage_late_fee_above_the_minimum(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    due = TODAY - timedelta(days=30)
    invoice = await unpaid_invoice(conn, client, due, "250.00")
    await update_automation_settings(conn, late_fee_amount=D("10.00"), late_fee_minimum=D("1.00"))

    result = await run(conn, due + timedelta(days=5))

    charged = await invoices.get_invoice(conn, invoice.id)
    assert charged is not None and charged.total == D("275.00")
    assert result.count("late_fees_applied") == 1


async def test_9_4_a_late_fee_that_would_overflow_the_invoice_is_left_out_and_recorded(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    due = TODAY - timedelta(days=30)
    huge = await unpaid_invoice(conn, client, due, "999999999000.00")
    normal = await unpaid_invoice(conn, client, due, "50.00")
    await update_automation_settings(conn, late_fee_amount=D("10.00"), late_fee_minimum=D("1.00"))

    result = await run(conn, due + timedelta(days=5))

    assert result.count("late_fees_applied") == 1
    assert result.failures == [
        {
            "step": "add_late_fees",
            "message": f"Invoice #{huge.number}: its late fee would take the total above "
            "999,999,999,999.99; none was added.",
        }
    ]
    assert await invoices.get_invoice(conn, huge.id) == huge
    charged = await invoices.get_invoice(conn, normal.id)
    assert charged is not None and charged.total == D("55.00")


# --- 9.5 invoice generation and capture ----------------------------------------------------


async def test_9_5_the_run_invoices_due_items_and_emails_invoice_created(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    order = await active_order(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"))
    due = due_date_of(order)

    early = await run(conn, due - timedelta(days=15))
    on_time = await run(conn, due - timedelta(days=14))
    later = await run(conn, due - timedelta(days=13))

    assert [r.count("invoices_generated") for r in (early, on_time, later)] == [0, 1, 0]
    assert await emails(conn, "invoice_created") == [("invoice_created", "joe@example.com")]


async def test_9_5_an_invoice_too_large_to_store_is_recorded_and_the_others_are_made(
    conn: asyncpg.Connection,
) -> None:
    big = await add_client(conn, email="big@example.com")
    small = await add_client(conn)
    order = await active_order(conn, big, (ItemKind.SERVICE, "Big", "999999999999.99"))
    await active_order(conn, big, (ItemKind.DOMAIN, "big.example", "0.01"))
    await active_order(conn, small, (ItemKind.SERVICE, "Hosting", "10.00"))
    due = due_date_of(order)

    result = await run(conn, due - timedelta(days=14))

    assert result.count("invoices_generated") == 1
    assert result.failures == [
        {
            "step": "generate_invoices",
            "message": f"Client {big.id}: the invoice due {due} would total "
            "1,000,000,000,000.00, more than an invoice can hold (999,999,999,999.99); its "
            "items were left uninvoiced.",
        }
    ]
    assert await emails(conn, "invoice_created") == [("invoice_created", "joe@example.com")]
    assert result.finished_at is not None


async def test_9_5_card_invoices_are_captured_with_the_stored_card_and_declines_counted(
    conn: asyncpg.Connection,
) -> None:
    payer = await add_client(conn, email="payer@example.com")
    decliner = await add_client(conn, email="decliner@example.com")
    by_hand = await add_client(conn, email="manual@example.com", cc_processing_disabled=True)
    for client, number in [
        (payer, "4242424242424242"),
        (decliner, "4000000000000002"),
        (by_hand, "4242424242424242"),
    ]:
        await save_card(
            conn, TOOLS.card_keyring, client.id, number=number, expiry="12/39", staff_id=None
        )
        await active_order(
            conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="testcard"
        )
    due = TODAY + timedelta(days=31)
    await conn.execute("UPDATE services SET next_due_date = $1", due)
    await conn.execute("UPDATE invoices SET status = 'CANCELLED'")  # the orders' own

    result = await run(conn, due)

    assert (result.count("invoices_captured"), result.count("invoices_declined")) == (1, 1)
    rows = await conn.fetch(
        """SELECT c.email::text, i.status FROM invoices i JOIN clients c ON c.id = i.client_id
            WHERE i.due_date = $1 ORDER BY c.email""",
        due,
    )
    assert [(r["email"], r["status"]) for r in rows] == [
        ("decliner@example.com", InvoiceStatus.UNPAID.value),
        ("manual@example.com", InvoiceStatus.UNPAID.value),
        ("payer@example.com", InvoiceStatus.PAID.value),
    ]
    assert len(await emails(conn, "credit_card_invoice_created")) == 3


# --- 9.6 once per date ---------------------------------------------------------------------


async def test_9_6_two_runs_for_one_date_at_once_make_one_record_and_one_email_each(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        client = await add_client(conn)
        await unpaid_invoice(conn, client, TODAY + timedelta(days=7))

    async def run_on_own_connection() -> runs.AutomationRun:
        async with pool.acquire() as conn:
            return await run(conn, TODAY)

    first, second = await asyncio.gather(run_on_own_connection(), run_on_own_connection())

    assert first == second
    assert await pool.fetchval("SELECT count(*) FROM automation_runs") == 1
    assert await pool.fetchval("SELECT count(*) FROM emails") == 1
    assert first.count("reminders_sent") == 1 and first.finished_at is not None


async def test_9_6_a_run_cut_short_resumes_after_its_last_committed_step(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await unpaid_invoice(conn, client, TODAY + timedelta(days=7))
    # As a run killed after its first two steps leaves it.
    await conn.execute(
        """INSERT INTO automation_runs (as_of, counts, durations)
           VALUES ($1, '{"invoices_generated": 4}',
                   '{"generate_invoices": 0.1, "capture_payments": 0.1}')""",
        TODAY,
    )

    finished = await run(conn, TODAY)

    assert finished.finished_at is not None
    assert finished.count("invoices_generated") == 4  # not run again
    assert finished.count("reminders_sent") == 1
    assert set(finished.durations) == set(runs.STEPS)


async def test_9_6_a_failing_step_is_recorded_and_the_others_still_run(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await unpaid_invoice(conn, client, TODAY + timedelta(days=7))
    # An as_of whose invoicing horizon no date can hold makes the generation step fail.
    result = await run(conn, date.max - timedelta(days=3))

    assert [failure["step"] for failure in result.failures] == ["generate_invoices"]
    assert result.finished_at is not None


# --- settings ------------------------------------------------------------------------------


async def test_10_2_automation_settings_have_defaults_and_keep_what_is_changed(
    conn: asyncpg.Connection,
) -> None:
    assert await get_automation_settings(conn) == AutomationSettings()

    await update_automation_settings(conn, payment_reminder_days=3, time_zone="Europe/Paris")
    changed = await get_automation_settings(conn)

    assert (changed.payment_reminder_days, changed.time_zone) == (3, "Europe/Paris")
    assert changed.first_overdue_notice_days == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"payment_reminder_days": 366}, "payment_reminder_days"),
        ({"third_overdue_notice_days": -1}, "third_overdue_notice_days"),
        ({"late_fee_amount": D("100.01")}, "late_fee_amount"),
        ({"late_fee_minimum": D("-1")}, "late_fee_minimum"),
        ({"late_fee_amount": D("0.001")}, "late_fee_amount"),
        ({"late_fee_amount": D("NaN")}, "late_fee_amount"),
        ({"late_fee_minimum": D("1e30")}, "late_fee_minimum"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
async def test_10_2_automation_settings_out_of_range_are_refused(
    conn: asyncpg.Connection, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        await update_automation_settings(conn, **changes)

    assert {f for f, _ in field_errors(refused.value)} == {field}
    assert await get_automation_settings(conn) == AutomationSettings()
