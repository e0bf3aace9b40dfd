"""The Stripe gateway (SPEC 4.5, 13.1, 13.6) through the API, against a real localstripe server
(tests/stripe_server.py): cards kept by Stripe, payments and refunds through it, its webhook.

localstripe sends no `charge.refunded` and keeps no idempotency keys; its events are read back
from its own API and signed here with the endpoint's secret, as Stripe signs them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth.permissions import StaffRole
from domain.billing.gateway_protocol import CardOnFile
from domain.billing.gateways import capture_due_invoices, loaded_gateways
from domain.billing.stripe_gateway import StripeConfig, StripeGateway
from domain.cards.services import card_on_file
from domain.clients import merge
from tests.api.test_cards import CLEAR_CARD, SAVE_CARD, reveal
from tests.api.test_credit import open_staff_session, payload_of
from tests.api.test_gateways import UPDATE
from tests.api.test_payments import PAY, REFUND, client_with_invoice, new_invoice
from tests.conftest import CLIENT_AREA_URL, TEST_KEYRING, add_client, gid, gql, pk
from tests.stripe_server import SECRET_KEY, WEBHOOK_SECRET, LocalStripe

APPROVED = "4242424242424242"
# Kept by Stripe, declined when charged (Stripe's test card "charge customer fail").
DECLINED_WHEN_CHARGED = "4000000000000341"
# Refused when stored ("generic decline").
REFUSED = "4000000000000002"


@pytest.fixture
async def admin(conn: asyncpg.Connection) -> str:
    return await open_staff_session(conn, StaffRole.ADMIN, "admin@staff.example.com")


async def stripe_client(conn: asyncpg.Connection, email: str = "joe@example.com") -> Any:
    """A client paying through Stripe, its session and an unpaid invoice of 20.00 USD."""
    client_id, token, invoice = await client_with_invoice(conn, email)
    await conn.execute(
        "UPDATE clients SET default_payment_method = 'stripe' WHERE id = $1", client_id
    )
    await conn.execute(
        "UPDATE invoices SET payment_method = 'stripe' WHERE id = $1", pk(invoice, "Invoice")
    )
    return client_id, token, invoice


async def store(
    api: httpx.AsyncClient, token: str, client_id: int, number: str = APPROVED
) -> dict[str, Any]:
    card = {"number": number, "expiry": "12/30", "cvc": "123"}
    variables = {"clientId": gid("Client", client_id), "input": card}
    payload: dict[str, Any] = (await gql(api, SAVE_CARD, variables, token=token))["data"][
        "saveCard"
    ]
    return payload


async def at_stripe(server: LocalStripe, path: str, **query: Any) -> Any:
    """What the localstripe server holds, read through its API."""
    async with httpx.AsyncClient(base_url=server.url) as stripe_api:
        response = await stripe_api.get(
            path, params=query, headers={"Authorization": f"Bearer {SECRET_KEY}"}
        )
    assert response.status_code == 200, response.text
    return response.json()


async def send_event(
    api: httpx.AsyncClient, event: dict[str, Any], secret: str = WEBHOOK_SECRET
) -> httpx.Response:
    """POST an event to the webhook signed as Stripe signs: HMAC-SHA256 of `t.payload`."""
    payload = json.dumps(event)
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256)
    return await api.post(
        "/webhooks/stripe",
        content=payload,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": f"t={stamp},v1={signature.hexdigest()}",
        },
    )


async def succeeded_event(server: LocalStripe, intent_id: str, since: int) -> dict[str, Any]:
    events = await at_stripe(
        server,
        "/v1/events",
        **{"type": "payment_intent.succeeded", "created[gte]": since, "limit": 100},
    )
    [event] = [e for e in events["data"] if e["data"]["object"]["id"] == intent_id]
    return dict(event)


async def test_4_5_a_stripe_clients_card_is_kept_by_stripe_and_only_its_ids_are_stored(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str, localstripe: LocalStripe
) -> None:
    client_id, _, _ = await stripe_client(conn)
    saved = await store(stripe_api, admin, client_id)
    assert saved["errors"] == []
    assert saved["client"]["card"] | {"issueNumber": None} == {
        "cardType": "Visa",
        "lastFour": "4242",
        "expiry": "12/30",
        "issueNumber": None,
        "startDate": None,
    }
    row = await conn.fetchrow("SELECT * FROM cards WHERE client_id = $1", client_id)
    assert (row["ciphertext"], row["nonce"], row["key_version"]) == (None, None, None)
    assert row["gateway"] == "stripe" and row["gateway_payment_method"].startswith("pm_")
    customer = row["gateway_customer"]
    assert customer.startswith("cus_")
    # Neither the number nor the CVV is anywhere: not in the card's row, nor in the audit.
    stored = await conn.fetchval(
        "SELECT (SELECT to_jsonb(c)::text FROM cards c) || (SELECT jsonb_agg(a)::text "
        "FROM audit_log a)"
    )
    assert APPROVED not in stored and '"123"' not in stored
    revealed = await reveal(stripe_api, admin, gid("Client", client_id), "test-card-secret")
    assert revealed["number"] is None
    assert [e["code"] for e in revealed["errors"]] == ["NOT_FOUND"]
    # A replaced card goes to the same Stripe customer.
    assert (await store(stripe_api, admin, client_id, "5555555555554444"))["errors"] == []
    assert (
        await conn.fetchval("SELECT gateway_customer FROM cards WHERE client_id = $1", client_id)
        == customer
    )
    methods = await at_stripe(localstripe, "/v1/payment_methods", customer=customer, type="card")
    assert sorted(m["card"]["last4"] for m in methods["data"]) == ["4242", "4444"]


async def test_4_5_a_card_stripe_refuses_is_not_stored(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str
) -> None:
    client_id, _, _ = await stripe_client(conn)
    refused = await store(stripe_api, admin, client_id, REFUSED)
    assert refused["client"] is None
    assert refused["errors"] == [
        {"field": "number", "code": "PAYMENT_DECLINED", "message": "Your card was declined."}
    ]
    assert await conn.fetchval("SELECT count(*) FROM cards") == 0


async def test_13_2_a_stripe_payment_retried_with_its_key_charges_the_card_once(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str, localstripe: LocalStripe
) -> None:
    client_id, token, invoice = await stripe_client(conn)
    await store(stripe_api, admin, client_id)
    for _ in range(2):
        paid = await payload_of(
            stripe_api, token, PAY, id=invoice, source="STORED_CARD", key="pay-1"
        )
        assert paid["errors"] == [] and paid["invoice"]["status"] == "PAID"
        assert paid["transaction"]["gateway"] == "stripe"
    customer = await conn.fetchval("SELECT gateway_customer FROM cards")
    charges = await at_stripe(localstripe, "/v1/charges", customer=customer)
    assert [(c["amount"], c["currency"], c["status"]) for c in charges["data"]] == [
        (2000, "usd", "succeeded")
    ]
    reference = await conn.fetchval("SELECT transaction_id FROM transactions")
    assert charges["data"][0]["payment_intent"] == reference


async def test_13_2_a_card_stripe_declines_leaves_the_invoice_unpaid_with_its_reason(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str
) -> None:
    client_id, token, invoice = await stripe_client(conn)
    await store(stripe_api, admin, client_id, DECLINED_WHEN_CHARGED)
    refused = await payload_of(stripe_api, token, PAY, id=invoice, source="STORED_CARD")
    assert refused["errors"] == [
        {"field": "source", "code": "PAYMENT_DECLINED", "message": "Your card was declined."}
    ]
    status = await conn.fetchval(
        "SELECT status FROM invoices WHERE id = $1", pk(invoice, "Invoice")
    )
    assert status == "UNPAID"
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0


async def test_13_3_a_stripe_payment_is_refunded_through_stripe(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str, localstripe: LocalStripe
) -> None:
    client_id, token, invoice = await stripe_client(conn)
    await store(stripe_api, admin, client_id)
    payment = await payload_of(stripe_api, token, PAY, id=invoice, source="STORED_CARD")
    refunded = await payload_of(
        stripe_api, admin, REFUND, id=payment["transaction"]["id"], amount="5", key="r-1"
    )
    assert refunded["errors"] == []
    assert (refunded["refund"]["amount"], refunded["refund"]["refundKind"]) == ("-5.00", "GATEWAY")
    intent = await conn.fetchval("SELECT transaction_id FROM transactions WHERE refund_of IS NULL")
    refunds = await at_stripe(localstripe, "/v1/refunds", payment_intent=intent)
    assert [(r["id"], r["amount"]) for r in refunds["data"]] == [
        (refunded["refund"]["transactionId"], 500)
    ]


async def test_13_1_stripe_is_turned_on_only_where_it_is_configured(
    api: httpx.AsyncClient, stripe_api: httpx.AsyncClient, admin: str
) -> None:
    unconfigured = await payload_of(api, admin, UPDATE, name="stripe", input={"enabled": True})
    assert [(e["field"], e["code"]) for e in unconfigured["errors"]] == [
        ("enabled", "NOT_CONFIGURED")
    ]
    configured = await payload_of(stripe_api, admin, UPDATE, name="stripe", input={"enabled": True})
    assert configured["errors"] == []
    assert configured["gateway"] == {
        "name": "stripe",
        "displayName": "Stripe",
        "kind": "MERCHANT",
        "enabled": True,
        "canRefund": True,
    }


async def test_13_6_the_webhook_refuses_a_wrong_signature_with_a_400(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    event = {
        "id": "evt_forged",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_forged", "metadata": {}}},
    }
    for response in (
        await send_event(stripe_api, event, secret="whsec_not_ours"),
        await stripe_api.post("/webhooks/stripe", json=event),  # no signature at all
    ):
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_SIGNATURE"
    assert await conn.fetchval("SELECT count(*) FROM gateway_events") == 0


async def test_13_6_a_payment_stripe_confirms_after_the_capture_is_recorded_once(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str, localstripe: LocalStripe
) -> None:
    since = int(time.time())
    client_id, token, invoice = await stripe_client(conn)
    await store(stripe_api, admin, client_id)
    # Charged at Stripe, but never recorded here (as if the process died after the charge).
    card = await conn.fetchrow("SELECT gateway_customer, gateway_payment_method FROM cards")
    gateway = StripeGateway(StripeConfig(SECRET_KEY, localstripe.url))
    charged = await gateway.capture(
        amount=Decimal("20.00"),
        currency="USD",
        card=CardOnFile(reference=card[1], customer=card[0]),
        description="Invoice",
        invoice_id=pk(invoice, "Invoice"),
        idempotency_key=secrets.token_hex(8),
    )
    event = await succeeded_event(localstripe, charged.transaction_id or "", since)
    answers = [(await send_event(stripe_api, event)).json() for _ in range(2)]
    assert answers == [{"received": True, "replay": False}, {"received": True, "replay": True}]
    rows = await conn.fetch("SELECT gateway, transaction_id, amount FROM transactions")
    assert [tuple(r) for r in rows] == [("stripe", charged.transaction_id, Decimal("20.00"))]
    status = await conn.fetchval(
        "SELECT status FROM invoices WHERE id = $1", pk(invoice, "Invoice")
    )
    assert status == "PAID"
    # The event of a payment recorded when it was captured adds nothing.
    second = await new_invoice(conn, client_id, "7.00")
    await conn.execute(
        "UPDATE invoices SET payment_method = 'stripe' WHERE id = $1", pk(second, "Invoice")
    )
    paid = await payload_of(stripe_api, token, PAY, id=second, source="STORED_CARD")
    intent = await conn.fetchval(
        "SELECT transaction_id FROM transactions WHERE id = $1",
        pk(paid["transaction"]["id"], "Transaction"),
    )
    response = await send_event(stripe_api, await succeeded_event(localstripe, intent, since))
    assert response.json() == {"received": True, "replay": False}
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 2


async def test_13_6_a_refund_made_at_stripe_is_recorded_from_charge_refunded_once(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str, localstripe: LocalStripe
) -> None:
    client_id, token, invoice = await stripe_client(conn)
    await store(stripe_api, admin, client_id)
    await payload_of(stripe_api, token, PAY, id=invoice, source="STORED_CARD")
    intent = await conn.fetchval("SELECT transaction_id FROM transactions")
    async with httpx.AsyncClient(base_url=localstripe.url) as at:  # refunded in Stripe's dashboard
        made = await at.post(
            "/v1/refunds",
            data={"payment_intent": intent, "amount": "500"},
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        )
    assert made.status_code == 200, made.text
    [charge] = (
        await at_stripe(
            localstripe,
            "/v1/charges",
            customer=await conn.fetchval("SELECT gateway_customer FROM cards"),
        )
    )["data"]
    # localstripe sends no charge.refunded: the event wraps its charge as Stripe's would.
    event = {
        "id": f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "type": "charge.refunded",
        "data": {"object": charge},
    }
    for _ in range(2):
        assert (await send_event(stripe_api, event)).status_code == 200
    rows = await conn.fetch(
        "SELECT transaction_id, amount, refund_kind FROM transactions WHERE refund_of IS NOT NULL"
    )
    assert [tuple(r) for r in rows] == [(made.json()["id"], Decimal("-5.00"), "GATEWAY")]
    balance = await conn.fetchval(
        "SELECT balance FROM invoices WHERE id = $1", pk(invoice, "Invoice")
    )
    assert balance == Decimal("5.00")


def test_13_6_stripe_is_loaded_where_it_is_configured_production_too() -> None:
    config = StripeConfig(SECRET_KEY)
    assert set(loaded_gateways(production=False)) == {"testcard"}
    assert set(loaded_gateways(production=True)) == set()
    assert set(loaded_gateways(production=True, stripe=config)) == {"stripe"}


async def test_9_5_the_daily_run_captures_a_card_stripe_keeps(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str, localstripe: LocalStripe
) -> None:
    client_id, _, invoice = await stripe_client(conn)
    await store(stripe_api, admin, client_id)

    async def card_of(owner: int) -> CardOnFile | None:
        return await card_on_file(conn, TEST_KEYRING, owner)

    gateway = StripeGateway(StripeConfig(SECRET_KEY, localstripe.url))
    due = await conn.fetchval("SELECT due_date FROM invoices WHERE id = $1", pk(invoice, "Invoice"))
    summary = await capture_due_invoices(
        conn,
        as_of=due,
        gateways={"stripe": gateway},
        card_for=card_of,
        client_area_url=CLIENT_AREA_URL,
    )
    assert summary.captured == [pk(invoice, "Invoice")]
    reference = await conn.fetchval("SELECT transaction_id FROM transactions")
    intent = await at_stripe(localstripe, f"/v1/payment_intents/{reference}")
    assert (intent["amount"], intent["status"]) == (2000, "succeeded")
    assert intent["metadata"]["invoice_id"] == str(pk(invoice, "Invoice"))


async def test_7_1_a_card_stripe_keeps_moves_with_a_merge_as_it_is(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str
) -> None:
    client_id, _, _ = await stripe_client(conn)
    await store(stripe_api, admin, client_id)
    kept = await add_client(conn, email="kept@example.com")
    before = await conn.fetchrow(
        "SELECT gateway, gateway_customer, gateway_payment_method, last_four FROM cards"
    )
    await merge.merge_clients(
        conn, kept.id, client_id, merge.MergeKeep.FIRST, keyring=None, staff_id=None
    )
    after = await conn.fetchrow(
        "SELECT client_id, gateway, gateway_customer, gateway_payment_method, last_four FROM cards"
    )
    assert tuple(after) == (kept.id, *before)


async def test_4_4_clearing_a_card_stripe_keeps_takes_it_off_its_stripe_customer(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str, localstripe: LocalStripe
) -> None:
    client_id, _, _ = await stripe_client(conn)
    await store(stripe_api, admin, client_id)
    method = await conn.fetchval("SELECT gateway_payment_method FROM cards")
    assert (await at_stripe(localstripe, f"/v1/payment_methods/{method}"))["customer"]
    body = await gql(stripe_api, CLEAR_CARD, {"clientId": gid("Client", client_id)}, token=admin)
    assert body["data"]["clearCard"] == {"client": {"card": None}, "errors": []}
    assert await conn.fetchval("SELECT count(*) FROM cards") == 0
    assert (await at_stripe(localstripe, f"/v1/payment_methods/{method}"))["customer"] is None


async def test_13_6_the_webhook_takes_nothing_where_its_secret_is_not_set(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    event = {"id": "evt_1", "object": "event", "type": "charge.refunded", "data": {"object": {}}}
    response = await send_event(api, event)
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_CONFIGURED"
    assert await conn.fetchval("SELECT count(*) FROM gateway_events") == 0
