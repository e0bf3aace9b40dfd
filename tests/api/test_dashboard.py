"""SPEC 12.3 and 10.1 through GraphQL: the dashboard's figures, each guarded by the staff
permission that reads its objects, for staff members and API keys alike."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import StaffPermission
from domain.billing import invoices
from tests.api.test_authz_matrix import api_key_of
from tests.conftest import CountedApi, add_client, gql, pay_by_transfer

DASHBOARD = """
query Dashboard($from: Date!, $to: Date!) {
  dashboard {
    clientsByStatus { status count }
    unpaidInvoices { count totals { currency amount } }
    overdueInvoices { count totals { currency amount } }
    income(from: $from, to: $to, interval: DAY) { date totals { currency amount } }
    openTickets awaitingReply queuedEmails failedEmails
    lastAutomationRun { asOf }
    nextAutomationRunAt
  }
}"""
FIGURES = {
    StaffPermission.VIEW_CLIENTS: {
        "clientsByStatus",
        "unpaidInvoices",
        "overdueInvoices",
        "income",
        "openTickets",
        "awaitingReply",
    },
    StaffPermission.VIEW_EMAILS: {"queuedEmails", "failedEmails"},
    StaffPermission.MANAGE_SETTINGS: {"lastAutomationRun", "nextAutomationRunAt"},
}


async def viewer_token(
    conn: asyncpg.Connection, held: set[StaffPermission], kind: str, name: str = "staff"
) -> str:
    """A session (`kind` "staff") or an API key ("api_key") of staff member `name`, whose
    custom role holds `held`."""
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ($1) RETURNING id", f"{name}@staff.example.com"
    )
    role_id = await conn.fetchval(
        "INSERT INTO staff_roles (name, permissions) VALUES ($1, $2) RETURNING id",
        f"Custom {name}",
        sorted(held),
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, custom_role_id) "
        "VALUES ($1, 'Sam', 'Staff', $2)",
        login_id,
        role_id,
    )
    if kind == "api_key":
        return await api_key_of(conn, login_id, role_id)
    return await sessions.start_session(conn, login_id, ttl=timedelta(hours=1))


async def ask(api: httpx.AsyncClient, token: str) -> dict[str, Any]:
    today = date.today()
    variables = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    return await gql(api, DASHBOARD, variables, token=token, allow_errors=True)


@pytest.mark.parametrize("kind", ["staff", "api_key"])
@pytest.mark.parametrize("held", list(FIGURES))
async def test_10_1_each_dashboard_figure_needs_the_permission_that_reads_its_objects(
    api: httpx.AsyncClient, conn: asyncpg.Connection, held: StaffPermission, kind: str
) -> None:
    body = await ask(api, await viewer_token(conn, {held}, kind))
    assert body["data"], body

    shown = {name for name, value in body["data"]["dashboard"].items() if value is not None}
    refused = {tuple(e["path"]) for e in body["errors"]}
    assert shown == FIGURES[held] - {"lastAutomationRun"}  # no run yet: null, not refused
    assert refused == {
        ("dashboard", name) for other in FIGURES if other != held for name in FIGURES[other]
    }
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}


async def test_12_3_the_dashboard_shows_exact_money_per_currency(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    joe = await add_client(conn, currency="EUR", send_welcome_email=True)
    ann = await add_client(conn, first_name="Ann", email="ann@example.com", currency="USD")
    today = date.today()
    for client, amount, due in ((joe, "100.10", -3), (ann, "20.05", 4), (ann, "0.10", -1)):
        await invoices.create_invoice(
            conn,
            client.id,
            items=[{"description": "Hosting", "amount": amount}],
            due_date=today + timedelta(days=due),
            payment_method=None,
            staff_id=None,
        )
    paid = await conn.fetchval("SELECT id FROM invoices WHERE client_id = $1", joe.id)
    await pay_by_transfer(conn, paid, "0.10")

    body = await ask(api, await viewer_token(conn, set(StaffPermission), "staff"))

    assert "errors" not in body, body
    figures = body["data"]["dashboard"]
    assert figures["clientsByStatus"] == [
        {"status": "ACTIVE", "count": 2},
        {"status": "INACTIVE", "count": 0},
        {"status": "CLOSED", "count": 0},
    ]
    assert figures["unpaidInvoices"] == {
        "count": 3,
        "totals": [{"currency": "EUR", "amount": "100.00"}, {"currency": "USD", "amount": "20.15"}],
    }
    assert figures["overdueInvoices"] == {
        "count": 2,
        "totals": [{"currency": "EUR", "amount": "100.00"}, {"currency": "USD", "amount": "0.10"}],
    }
    assert figures["income"] == [
        {"date": (today - timedelta(days=1)).isoformat(), "totals": []},
        {"date": today.isoformat(), "totals": [{"currency": "EUR", "amount": "0.10"}]},
    ]
    assert (figures["queuedEmails"], figures["failedEmails"]) == (1, 0)
    assert figures["nextAutomationRunAt"] is not None


async def test_an_income_range_out_of_order_is_bad_input(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await viewer_token(conn, {StaffPermission.VIEW_CLIENTS}, "staff")
    body = await gql(
        api,
        'query { dashboard { income(from: "2026-02-01", to: "2026-01-01", interval: MONTH) '
        "{ date } } }",
        token=token,
        allow_errors=True,
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_the_whole_dashboard_is_read_in_one_statement(
    conn: asyncpg.Connection, counted_api: CountedApi
) -> None:
    token = await viewer_token(conn, set(StaffPermission), "staff")
    today = date.today()
    variables = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    await counted_api.count(DASHBOARD, variables, token)  # the settings come to the cache
    assert "errors" not in counted_api.last_body, counted_api.last_body

    statements = await counted_api.count(DASHBOARD, variables, token)

    assert "errors" not in counted_api.last_body, counted_api.last_body
    # The session, then every figure.
    assert statements == 2, counted_api.statements
    assert counted_api.last_body["data"]["dashboard"]["income"][1]["date"] == today.isoformat()
