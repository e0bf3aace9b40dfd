"""SPEC 13.5 over HTTP: `GET /invoices/{id}.pdf` to whom may read the invoice (staff who view
clients, the account holder, a sub-account with INVOICES), by session, cookie or API key; 404
to everyone else, as for an invoice that does not exist."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import httpx

from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffPermission
from domain.billing import invoices
from domain.settings import update_general_settings
from tests.api.test_dashboard import viewer_token
from tests.api.test_files import sub_account
from tests.conftest import add_client, gid, gql
from tests.domain.test_invoice_pdf import pdf_text

TTL = timedelta(hours=1)


async def staff_token(
    conn: asyncpg.Connection, name: str, held: set[StaffPermission], *, api_key: bool = False
) -> str:
    return await viewer_token(conn, held, "api_key" if api_key else "staff", name)


async def an_invoice(conn: asyncpg.Connection) -> tuple[int, invoices.Invoice]:
    client = await add_client(conn, company_name="Bloggs Ltd")
    invoice = await invoices.create_invoice(
        conn,
        client.id,
        items=[{"description": "Consulting", "amount": "120.00"}],
        due_date=date(2030, 1, 31),
        payment_method="banktransfer",
        staff_id=None,
    )
    return client.id, invoice


async def fetch(api: httpx.AsyncClient, invoice_id: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await api.get(f"/invoices/{invoice_id}.pdf", headers=headers)


async def test_13_5_the_pdf_goes_to_whom_may_read_the_invoice_and_404_to_anyone_else(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, invoice = await an_invoice(conn)
    other = await add_client(conn, email="ann@example.com")
    viewers = {
        "staff who view clients": await staff_token(conn, "viewer", {StaffPermission.VIEW_CLIENTS}),
        "staff who do not": await staff_token(conn, "mailer", {StaffPermission.VIEW_EMAILS}),
        "an API key that views clients": await staff_token(
            conn, "keyed", {StaffPermission.VIEW_CLIENTS}, api_key=True
        ),
        "an API key that does not": await staff_token(
            conn, "unkeyed", {StaffPermission.VIEW_EMAILS}, api_key=True
        ),
        "the account holder": await sessions.start_session(
            conn,
            (await conn.fetchval("SELECT owner_login_id FROM clients WHERE id = $1", client_id)),
            ttl=TTL,
        ),
        "a sub-account with INVOICES": await sub_account(
            conn, client_id, {ContactPermission.INVOICES}
        ),
        "a sub-account without": await sub_account(conn, client_id, {ContactPermission.PROFILE}),
        "another client": await sessions.start_session(conn, other.owner_login_id, ttl=TTL),
        "nobody": None,
    }

    outcomes = {
        who: (await fetch(api, gid("Invoice", invoice.id), token)).status_code
        for who, token in viewers.items()
    }

    assert outcomes == {
        "staff who view clients": 200,
        "staff who do not": 404,
        "an API key that views clients": 200,
        "an API key that does not": 404,
        "the account holder": 200,
        "a sub-account with INVOICES": 200,
        "a sub-account without": 404,
        "another client": 404,
        "nobody": 401,
    }
    # Ids that are not an invoice's, or of no invoice, are not found alike.
    holder = viewers["staff who view clients"]
    for missing in [gid("Invoice", invoice.id + 1000), gid("Client", client_id), "garbage"]:
        response = await fetch(api, missing, holder)
        assert response.status_code == 404
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_13_5_the_pdf_is_the_invoice_as_an_attachment_also_by_session_cookie(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, invoice = await an_invoice(conn)
    owner = await conn.fetchval("SELECT owner_login_id FROM clients WHERE id = $1", client_id)
    api.cookies.set("clientdesk_session", await sessions.start_session(conn, owner, ttl=TTL))
    try:
        response = await api.get(f"/invoices/{gid('Invoice', invoice.id)}.pdf")
    finally:
        api.cookies.clear()

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="invoice-{invoice.number}.pdf"'
    )
    assert response.headers["cache-control"] == "private, no-store"
    lines = pdf_text(response.content).splitlines()
    assert f"Invoice #{invoice.number}" in lines
    assert "Joe Bloggs" in lines and "Bloggs Ltd" in lines
    assert "Consulting 120.00 USD" in lines and "Total 120.00 USD" in lines


UPDATE_COMPANY = """
mutation($input: GeneralSettingsInput!) {
  updateGeneralSettings(input: $input) {
    settings { companyName companyAddress } errors { field code }
  }
}"""


async def test_13_5_staff_set_the_company_name_and_address_the_pdf_is_headed_with(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    admin = await staff_token(conn, "settings", {StaffPermission.MANAGE_SETTINGS})
    viewer = await staff_token(conn, "viewer", {StaffPermission.VIEW_CLIENTS})
    _, invoice = await an_invoice(conn)

    refused = await gql(api, UPDATE_COMPANY, {"input": {"companyName": "A\nB"}}, token=admin)
    changed = await gql(
        api,
        UPDATE_COMPANY,
        {"input": {"companyName": " Hosting Co Ltd ", "companyAddress": "2 Server St\nLeeds"}},
        token=admin,
    )

    assert refused["data"]["updateGeneralSettings"]["errors"] == [
        {"field": "companyName", "code": "INVALID"}
    ]
    assert changed["data"]["updateGeneralSettings"] == {
        "settings": {"companyName": "Hosting Co Ltd", "companyAddress": "2 Server St\nLeeds"},
        "errors": [],
    }
    response = await fetch(api, gid("Invoice", invoice.id), viewer)
    assert pdf_text(response.content).splitlines()[:3] == [
        "Hosting Co Ltd",
        "2 Server St",
        "Leeds",
    ]


async def test_11_2_a_staff_session_without_the_required_second_factor_gets_no_pdf(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    viewer = await staff_token(conn, "viewer", {StaffPermission.VIEW_CLIENTS})
    _, invoice = await an_invoice(conn)
    await update_general_settings(conn, require_staff_two_factor=True)

    response = await fetch(api, gid("Invoice", invoice.id), viewer)

    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "TWO_FACTOR_REQUIRED"
