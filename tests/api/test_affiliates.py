"""SPEC 14.3 through GraphQL: a client activates its affiliate account, a client added with
its referral code is its referral, that client's paid invoices earn it a commission (emailed,
AFFILIATE category), a refund reverses it, and staff pay the balance out as credit, once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from domain import settings as general
from domain.auth import sessions
from domain.auth.permissions import StaffRole
from domain.billing import invoices, payments, refunds
from domain.emails.rendering import TemplateRenderer
from tests.api.test_credit import TTL, open_staff_session, payload_of
from tests.conftest import CLIENT_AREA_URL, add_client, gid, gql

ERRORS = "errors { field code message }"
AFFILIATE = """affiliate { referralCode referralUrl balance { currency amount }
  referrals { referredAt clientStatus }
  commissions { invoiceNumber amount currency earnedAt reversedAt } }"""
ACTIVATE = f"mutation {{ activateMyAffiliate {{ {AFFILIATE} {ERRORS} }} }}"
MINE = f"query {{ me {{ creditBalance {AFFILIATE} }} }}"
ADD = f"""
mutation Add($code: String) {{
  addClient(input: {{firstName: "Rae", lastName: "Ferred", email: "rae@example.com",
                     referralCode: $code}}, sendWelcomeEmail: false) {{ client {{ id }} {ERRORS} }}
}}"""
PAY_OUT = f"""
mutation PayOut($client: ID!, $key: String) {{
  payAffiliateBalance(clientId: $client, idempotencyKey: $key) {{ {AFFILIATE} {ERRORS} }}
}}"""


@pytest.fixture
async def staff_token(conn: asyncpg.Connection) -> str:
    return await open_staff_session(conn, StaffRole.BILLING, "billing@staff.example.com")


async def holder_token(conn: asyncpg.Connection, client_id: int) -> str:
    login_id = await conn.fetchval("SELECT owner_login_id FROM clients WHERE id = $1", client_id)
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def affiliate_with_referral(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> tuple[int, int]:
    """An affiliate (Joe) and the client (Rae) added with its code: their row ids."""
    joe = await add_client(conn)
    activated = await payload_of(api, await holder_token(conn, joe.id), ACTIVATE)
    added = await payload_of(
        api, staff_token, ADD, code=activated["affiliate"]["referralCode"].lower()
    )
    assert added["errors"] == []
    rae_id = await conn.fetchval("SELECT id FROM clients WHERE email = 'rae@example.com'")
    return joe.id, rae_id


async def paid_invoice(conn: asyncpg.Connection, client_id: int, amount: str) -> int:
    """An invoice of `amount` (untaxed), paid by bank transfer; its payment's id."""
    invoice = await invoices.create_invoice(
        conn,
        client_id,
        items=[{"description": "Hosting", "amount": amount, "taxed": False}],
        due_date=None,
        payment_method="banktransfer",
        staff_id=None,
    )
    paid = await payments.record_payment(
        conn,
        invoice.id,
        amount=amount,
        gateway="banktransfer",
        staff_id=None,
        client_area_url=CLIENT_AREA_URL,
    )
    return paid.transaction.id


async def affiliate_of(
    api: httpx.AsyncClient, conn: asyncpg.Connection, client_id: int
) -> dict[str, Any]:
    body = await gql(api, MINE, token=await holder_token(conn, client_id))
    me: dict[str, Any] = body["data"]["me"]
    return me


async def test_14_3_activating_gives_a_referral_code_and_link_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    joe = await add_client(conn)
    token = await holder_token(conn, joe.id)
    before = await affiliate_of(api, conn, joe.id)

    first = await payload_of(api, token, ACTIVATE)
    again = await payload_of(api, token, ACTIVATE)

    assert before["affiliate"] is None
    code = first["affiliate"]["referralCode"]
    assert len(code) == 10 and code.isalnum() and code.isupper()
    assert first["affiliate"]["referralUrl"].endswith(f"/signup/{code}")
    assert first["affiliate"]["balance"] == [] and first["affiliate"]["referrals"] == []
    assert again["affiliate"] == first["affiliate"]
    assert await conn.fetchval("SELECT count(*) FROM affiliates") == 1


async def test_14_3_a_client_added_with_the_code_is_referred_an_unknown_code_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    refused = await payload_of(api, staff_token, ADD, code="NOSUCHCODE")
    assert refused["client"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("referralCode", "NOT_FOUND")]
    assert await conn.fetchval("SELECT count(*) FROM clients") == 0

    joe_id, _ = await affiliate_with_referral(api, conn, staff_token)

    mine = await affiliate_of(api, conn, joe_id)
    assert [r["clientStatus"] for r in mine["affiliate"]["referrals"]] == ["ACTIVE"]


async def test_14_3_a_referred_clients_paid_invoice_earns_a_percentage_commission(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    joe_id, rae_id = await affiliate_with_referral(api, conn, staff_token)
    await conn.execute(
        """INSERT INTO contacts (client_id, first_name, last_name, email, email_preferences)
           VALUES ($1, 'Amy', 'Affiliate', 'amy@example.com', '{AFFILIATE}'),
                  ($1, 'Ian', 'Invoices', 'ian@example.com', '{INVOICE}')""",
        joe_id,
    )
    # The default: 10% of the invoice's subtotal, in its currency.
    await paid_invoice(conn, rae_id, "25.50")
    await paid_invoice(conn, joe_id, "40.00")  # the affiliate's own: no commission

    mine = await affiliate_of(api, conn, joe_id)

    [commission] = mine["affiliate"]["commissions"]
    assert (commission["amount"], commission["currency"]) == ("2.55", "USD")
    assert commission["reversedAt"] is None
    assert mine["affiliate"]["balance"] == [{"currency": "USD", "amount": "2.55"}]
    emails = await conn.fetch(
        """SELECT to_address, category, context FROM emails
            WHERE template = 'affiliate_commission_earned' ORDER BY id"""
    )
    assert [(e["to_address"], e["category"]) for e in emails] == [
        ("joe@example.com", "AFFILIATE"),
        ("amy@example.com", "AFFILIATE"),
    ]
    # As the worker renders it, under its client-area address.
    context = {"client_area_url": CLIENT_AREA_URL, **emails[0]["context"]}
    rendered = TemplateRenderer().render("affiliate_commission_earned", context)
    assert rendered.subject == "You earned a commission of 2.55 USD"
    assert f"invoice #{commission['invoiceNumber']}" in rendered.body
    assert f"{CLIENT_AREA_URL}/affiliate" in rendered.body
    assert rendered.html is not None and "<strong>2.55 USD</strong>" in rendered.html


async def test_14_3_a_fixed_commission_is_in_the_invoices_currency_and_earned_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    await general.update_general_settings(
        conn,
        affiliate_commission_type=general.CommissionType.FIXED,
        affiliate_commission=Decimal("5.00"),
    )
    joe_id, rae_id = await affiliate_with_referral(api, conn, staff_token)
    await conn.execute("UPDATE clients SET currency = 'EUR' WHERE id = $1", rae_id)
    payment = await paid_invoice(conn, rae_id, "80.00")
    invoice_id = await conn.fetchval("SELECT invoice_id FROM transactions WHERE id = $1", payment)
    # A second payment of the paid invoice (credit) does not earn it again.
    await payments.record_payment(
        conn,
        invoice_id,
        amount="1.00",
        gateway="banktransfer",
        staff_id=None,
        client_area_url=CLIENT_AREA_URL,
    )

    mine = await affiliate_of(api, conn, joe_id)

    assert mine["affiliate"]["balance"] == [{"currency": "EUR", "amount": "5.00"}]
    assert len(mine["affiliate"]["commissions"]) == 1


async def test_14_3_refunding_the_payment_reverses_the_commission(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    joe_id, rae_id = await affiliate_with_referral(api, conn, staff_token)
    payment = await paid_invoice(conn, rae_id, "30.00")

    await refunds.refund_transaction(
        conn, payment, amount="10.00", to_credit=False, gateways={}, staff_id=None
    )

    mine = await affiliate_of(api, conn, joe_id)
    [commission] = mine["affiliate"]["commissions"]
    assert commission["amount"] == "3.00" and commission["reversedAt"] is not None
    assert mine["affiliate"]["balance"] == [{"currency": "USD", "amount": "0.00"}]


async def test_14_3_staff_pay_the_balance_out_as_credit_once_per_key(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    joe_id, rae_id = await affiliate_with_referral(api, conn, staff_token)
    await paid_invoice(conn, rae_id, "50.00")

    paid = await payload_of(api, staff_token, PAY_OUT, client=gid("Client", joe_id), key="k1")
    retried = await payload_of(api, staff_token, PAY_OUT, client=gid("Client", joe_id), key="k1")
    empty = await payload_of(api, staff_token, PAY_OUT, client=gid("Client", joe_id))

    assert paid["errors"] == [] and retried["errors"] == []
    assert paid["affiliate"]["balance"] == [{"currency": "USD", "amount": "0.00"}]
    assert [(e["field"], e["code"]) for e in empty["errors"]] == [("clientId", "INVALID")]
    mine = await affiliate_of(api, conn, joe_id)
    assert Decimal(mine["creditBalance"]) == Decimal("5.00")
    entry = await conn.fetchrow(
        "SELECT description, amount FROM credit_log WHERE client_id = $1", joe_id
    )
    assert (entry["description"], entry["amount"]) == (
        "Affiliate commissions paid out",
        Decimal("5.00"),
    )
    audited = await conn.fetch("SELECT changes FROM audit_log WHERE action = 'affiliate.paid_out'")
    assert [a["changes"]["amount"] for a in audited] == ["5.00"]


async def test_14_3_two_payouts_at_once_pay_the_balance_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    joe_id, rae_id = await affiliate_with_referral(api, conn, staff_token)
    await paid_invoice(conn, rae_id, "70.00")
    other_token = await open_staff_session(conn, StaffRole.ADMIN, "admin@staff.example.com")

    results = await asyncio.gather(
        *(
            payload_of(api, token, PAY_OUT, client=gid("Client", joe_id))
            for token in (staff_token, other_token)
        )
    )

    assert sorted(len(r["errors"]) for r in results) == [0, 1]
    assert await conn.fetchval("SELECT sum(amount) FROM affiliate_payouts") == Decimal("7.00")
    assert await conn.fetchval(
        "SELECT credit_balance FROM clients WHERE id = $1", joe_id
    ) == Decimal("7.00")


async def test_14_3_staff_set_the_commission_in_the_general_settings(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    admin = await open_staff_session(conn, StaffRole.ADMIN, "admin@staff.example.com")
    update = f"""mutation($input: GeneralSettingsInput!) {{ updateGeneralSettings(input: $input) {{
                   settings {{ affiliateCommissionType affiliateCommission }} {ERRORS} }} }}"""

    fixed = await payload_of(
        api, admin, update, input={"affiliateCommissionType": "FIXED", "affiliateCommission": "150"}
    )
    too_much = await payload_of(api, admin, update, input={"affiliateCommissionType": "PERCENTAGE"})

    assert fixed["settings"] == {
        "affiliateCommissionType": "FIXED",
        "affiliateCommission": "150.00",
    }
    assert [(e["field"], e["code"]) for e in too_much["errors"]] == [
        ("affiliateCommission", "INVALID")
    ]
    kept = await general.get_general_settings(conn)
    assert (kept.affiliate_commission_type, kept.affiliate_commission) == (
        general.CommissionType.FIXED,
        Decimal("150.00"),
    )
