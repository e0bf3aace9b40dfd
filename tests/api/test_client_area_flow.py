"""Issue 22's acceptance, as a client would do it through the API: log in, order a product
from the catalogue, see the invoice with credit applied, ask to cancel the service at the
end of its period; a sub-account with only PRODUCTS sees the services but cannot cancel."""

from __future__ import annotations

import asyncpg
import httpx

from domain.auth import passwords
from domain.billing.models import ItemKind
from domain.catalogue import products
from domain.credit.services import add_credit
from tests.conftest import add_client, gql, login

PASSWORD = "client-password-1"
CATALOGUE = "query { products(kind: SERVICE) { edges { node { id name pricing { amount } } } } }"
ORDER = """mutation($product: ID!) {
  placeMyOrder(input: {items: [{productId: $product, billingCycle: MONTHLY}]},
               idempotencyKey: "first-order") {
    order { id items { id status } } errors { field code }
  }
}"""
INVOICES = "query { me { invoices { total credit balance status } } }"
SERVICES = "query { me { services { id name status } } }"
CANCEL = """mutation($id: ID!) {
  requestCancellation(serviceId: $id, type: END_OF_BILLING_PERIOD, reason: "Not needed") {
    request { status type } errors { field code }
  }
}"""


async def test_14_a_client_orders_sees_its_credit_applied_and_asks_to_cancel(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await products.save_product(
        conn,
        None,
        {
            "kind": ItemKind.SERVICE,
            "name": "Shared hosting",
            "pricing": [{"currency": "USD", "cycle": "MONTHLY", "amount": "12.00"}],
        },
    )
    client = await add_client(conn, email="joe@example.com", password=PASSWORD)
    await add_credit(
        conn, client.id, amount="5.00", description="Welcome", staff_id=None, login_id=None
    )
    sub_login = await conn.fetchval(
        "INSERT INTO logins (email, password_hash) VALUES ($1, $2) RETURNING id",
        "helper@example.com",
        passwords.hash_password_blocking(PASSWORD),
    )
    await conn.execute(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email, permissions)
           VALUES ($1, $2, 'Helen', 'Helper', 'helper@example.com', '{PRODUCTS}')""",
        client.id,
        sub_login,
    )

    token = await login(api, "joe@example.com", PASSWORD)
    [offered] = (await gql(api, CATALOGUE, token=token))["data"]["products"]["edges"]
    ordered = await gql(api, ORDER, {"product": offered["node"]["id"]}, token=token)
    invoices = await gql(api, INVOICES, token=token)
    [service] = ordered["data"]["placeMyOrder"]["order"]["items"]
    helper = await login(api, "helper@example.com", PASSWORD)
    seen_by_helper = await gql(api, SERVICES, token=helper)
    refused = await gql(api, CANCEL, {"id": service["id"]}, token=helper, allow_errors=True)
    asked = await gql(api, CANCEL, {"id": service["id"]}, token=token)

    assert ordered["data"]["placeMyOrder"]["errors"] == []
    assert invoices["data"]["me"]["invoices"] == [
        {"total": "12.00", "credit": "5.00", "balance": "7.00", "status": "UNPAID"}
    ]
    assert seen_by_helper["data"]["me"]["services"] == [
        {"id": service["id"], "name": "Shared hosting", "status": "PENDING"}
    ]
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["data"] is None or refused["data"]["requestCancellation"] is None
    assert asked["data"]["requestCancellation"] == {
        "request": {"status": "PENDING", "type": "END_OF_BILLING_PERIOD"},
        "errors": [],
    }
