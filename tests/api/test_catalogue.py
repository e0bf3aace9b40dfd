"""SPEC 14.1, 14.2, 1.6 and 9.5 through GraphQL: staff keep a product catalogue; clients order
from it in their currency, ask to cancel services and choose whether their domains renew; the
daily run carries cancellations out and renews only what it should.

Sessions are opened on the domain directly; the acceptance test (test_client_area_flow.py)
logs in through `login`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from domain.auth import sessions
from domain.auth.permissions import StaffRole
from domain.automation import runs
from domain.billing import orders
from domain.billing.models import ItemKind
from domain.billing.testcard import TestCardGateway
from domain.catalogue import products
from domain.credit.services import add_credit
from tests.api.test_credit import TTL, open_staff_session, payload_of
from tests.conftest import CLIENT_AREA_URL, add_client, gid, gql, pk

ERRORS = "errors { field code message }"
RUN_TOOLS = runs.RunTools({"testcard": TestCardGateway()}, None, CLIENT_AREA_URL)
PRODUCTS = """
query Products($kind: ItemKind, $hidden: Boolean!) {
  products(kind: $kind, includeHidden: $hidden) {
    totalCount edges { node { id name kind hidden groupId
      pricing { currency cycle amount setupFee transferAmount renewAmount } } }
  }
}"""
SAVE_PRODUCT = f"""
mutation Save($input: ProductInput!) {{
  saveProduct(input: $input) {{ product {{ id name kind hidden groupId addonOf
    pricing {{ currency cycle amount setupFee renewAmount }} }} {ERRORS} }}
}}"""
SAVE_GROUP = f"""
mutation Group($name: String!) {{ saveProductGroup(input: {{name: $name}}) {{
  group {{ id name }} {ERRORS} }} }}"""
PLACE_MY_ORDER = f"""
mutation Order($input: MyOrderInput!, $key: String) {{
  placeMyOrder(input: $input, idempotencyKey: $key) {{
    order {{ id status currency items {{ kind id name status }}
      invoice {{ id status subtotal credit total balance currency
                 items {{ description amount }} }} }}
    {ERRORS}
  }}
}}"""


def price(currency: str, amount: str, **more: Any) -> dict[str, Any]:
    return {"currency": currency, "cycle": "MONTHLY", "amount": amount, **more}


async def catalogue(conn: asyncpg.Connection) -> dict[str, int]:
    """A hosting product (USD and EUR, with a setup fee), a hidden one, and .com (USD,
    yearly: register 10, transfer 8, renew 12); their row ids by name."""
    made = {}
    for name, kind, hidden, pricing in [
        (
            "Hosting",
            ItemKind.SERVICE,
            False,
            [price("USD", "10.00", setup_fee="5.00"), price("EUR", "9.00")],
        ),
        ("Secret plan", ItemKind.SERVICE, True, [price("USD", "1.00")]),
        (
            ".com",
            ItemKind.DOMAIN,
            False,
            [
                {
                    **price("USD", "10.00", transfer_amount="8.00", renew_amount="12.00"),
                    "cycle": "ANNUALLY",
                }
            ],
        ),
    ]:
        saved = await products.save_product(
            conn, None, {"kind": kind, "name": name, "hidden": hidden, "pricing": pricing}
        )
        made[name] = saved.id
    return made


async def client_session(
    conn: asyncpg.Connection, email: str = "joe@example.com"
) -> tuple[int, str]:
    client = await add_client(conn, email=email)
    return client.id, await sessions.start_session(conn, client.owner_login_id, ttl=TTL)


def item(product: int, **more: Any) -> dict[str, Any]:
    return {"productId": gid("Product", product), **more}


async def test_14_1_staff_save_products_in_groups_and_clients_see_only_visible_ones(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    admin = await open_staff_session(conn, StaffRole.ADMIN, "admin@staff.example.com")
    group = await payload_of(api, admin, SAVE_GROUP, name="Web hosting")
    hosting = await payload_of(
        api,
        admin,
        SAVE_PRODUCT,
        input={
            "name": "Hosting",
            "kind": "SERVICE",
            "groupId": group["group"]["id"],
            "pricing": [price("USD", "10.00", setupFee="5.00")],
        },
    )
    assert hosting["errors"] == []
    addon = await payload_of(
        api,
        admin,
        SAVE_PRODUCT,
        input={
            "name": "Backups",
            "kind": "ADDON",
            "addonOf": hosting["product"]["id"],
            "hidden": True,
            "pricing": [price("USD", "2.00")],
        },
    )
    assert addon["product"]["addonOf"] == hosting["product"]["id"]
    refused = await payload_of(
        api,
        admin,
        SAVE_PRODUCT,
        input={"name": ".net", "kind": "DOMAIN", "pricing": [price("XXX", "1.00")]},
    )
    assert {(e["field"], e["code"]) for e in refused["errors"]} == {
        ("pricing.0.currency", "INVALID"),
        ("pricing.0.transferAmount", "REQUIRED"),
        ("pricing.0.renewAmount", "REQUIRED"),
    }
    _, client = await client_session(conn)

    seen = await gql(api, PRODUCTS, {"hidden": False}, token=client)
    every = await gql(api, PRODUCTS, {"hidden": True}, token=admin)
    asked = await gql(api, PRODUCTS, {"hidden": True}, token=client, allow_errors=True)

    [shown] = [edge["node"] for edge in seen["data"]["products"]["edges"]]
    assert shown == {
        "id": hosting["product"]["id"],
        "name": "Hosting",
        "kind": "SERVICE",
        "hidden": False,
        "groupId": group["group"]["id"],
        "pricing": [
            {
                "currency": "USD",
                "cycle": "MONTHLY",
                "amount": "10.00",
                "setupFee": "5.00",
                "transferAmount": None,
                "renewAmount": None,
            }
        ],
    }
    assert every["data"]["products"]["totalCount"] == 2
    assert asked["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    node = await gql(
        api,
        "query($id: ID!) { node(id: $id) { id ... on Product { name } } }",
        {"id": addon["product"]["id"]},
        token=client,
    )
    assert node["data"]["node"] is None  # hidden from clients, through node too


async def test_14_1_a_client_orders_from_the_catalogue_in_its_currency_with_credit_applied(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    made = await catalogue(conn)
    client_id, token = await client_session(conn)
    await add_credit(
        conn, client_id, amount="7.00", description="Goodwill", staff_id=None, login_id=None
    )

    placed = await payload_of(
        api,
        token,
        PLACE_MY_ORDER,
        input={
            "items": [
                item(made["Hosting"]),
                item(made[".com"], billingCycle="ANNUALLY", domain="example.com"),
            ]
        },
    )

    assert placed["errors"] == []
    order = placed["order"]
    assert (order["status"], order["currency"]) == ("PENDING", "USD")
    assert [(i["kind"], i["name"], i["status"]) for i in order["items"]] == [
        ("SERVICE", "Hosting", "PENDING"),
        ("DOMAIN", "example.com", "PENDING"),
    ]
    invoice = order["invoice"]
    # Hosting 10 + its setup fee 5 + .com registered at 10; the renewal price is for later.
    assert sorted(Decimal(line["amount"]) for line in invoice["items"]) == [5, 10, 10]
    assert (invoice["total"], invoice["credit"], invoice["balance"]) == ("25.00", "7.00", "18.00")
    domain_amount = await conn.fetchval(
        "SELECT amount FROM domains WHERE id = $1", pk(order["items"][1]["id"], "Domain")
    )
    assert domain_amount == Decimal("12.00")


async def test_1_6_a_product_without_a_price_in_the_clients_currency_is_a_field_error(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    made = await catalogue(conn)
    client_id, token = await client_session(conn)
    await conn.execute("UPDATE clients SET currency = 'GBP' WHERE id = $1", client_id)

    refused = await payload_of(
        api,
        token,
        PLACE_MY_ORDER,
        input={
            "items": [
                item(made["Hosting"]),
                item(made["Secret plan"]),
                item(made[".com"], billingCycle="ANNUALLY"),
            ]
        },
    )

    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        ("items.0.billingCycle", "INVALID"),
        ("items.1.productId", "NOT_FOUND"),  # hidden: clients cannot order it
        ("items.2.billingCycle", "INVALID"),
    ]
    assert refused["order"] is None
    assert await conn.fetchval("SELECT count(*) FROM orders") == 0


async def test_14_1_a_client_order_retried_with_its_key_is_placed_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    made = await catalogue(conn)
    _, token = await client_session(conn)
    variables = {"input": {"items": [item(made["Hosting"])]}, "key": "order-1"}

    first = await payload_of(api, token, PLACE_MY_ORDER, **variables)
    again = await payload_of(api, token, PLACE_MY_ORDER, **variables)

    assert again == first
    assert await conn.fetchval("SELECT count(*) FROM orders") == 1


async def test_14_1_staff_orders_catalogue_products_hidden_ones_too_beside_free_form_items(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    made = await catalogue(conn)
    client_id, _ = await client_session(conn)
    admin = await open_staff_session(conn, StaffRole.BILLING, "billing@staff.example.com")

    placed = await payload_of(
        api,
        admin,
        """mutation($client: ID!, $input: OrderInput!) {
           placeOrder(clientId: $client, input: $input) {
             order { items { kind name } invoice { subtotal } } errors { field code } } }""",
        client=gid("Client", client_id),
        input={
            "items": [
                {"kind": "SERVICE", "productId": gid("Product", made["Secret plan"])},
                {
                    "kind": "DOMAIN",
                    "productId": gid("Product", made[".com"]),
                    "name": "joe.com",
                    "billingCycle": "ANNUALLY",
                },
                {"kind": "SERVICE", "name": "Custom work", "amount": "50.00"},
            ]
        },
    )

    assert placed["errors"] == []
    assert sorted((i["kind"], i["name"]) for i in placed["order"]["items"]) == [
        ("DOMAIN", "joe.com"),
        ("SERVICE", "Custom work"),
        ("SERVICE", "Secret plan"),
    ]
    assert placed["order"]["invoice"]["subtotal"] == "61.00"


async def accepted_hosting(conn: asyncpg.Connection, client_id: int, count: int) -> list[str]:
    """`count` active monthly services of the client, ordered today: their API ids."""
    order = await orders.place_order(
        conn,
        client_id,
        items=[
            {"kind": ItemKind.SERVICE, "name": f"Plan {n}", "amount": "10.00"} for n in range(count)
        ],
        payment_method=None,
        staff_id=None,
    )
    await orders.accept_order(conn, order.id, staff_id=None, client_area_url=CLIENT_AREA_URL)
    return [gid("Service", i.id) for i in order.items]


ADDON_SERVICES = """query { me { services { name serviceId addons { name serviceId amount } } } }"""


async def test_14_1_a_client_orders_an_addon_of_its_own_service_and_sees_it_with_the_service(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    made = await catalogue(conn)
    backups = await products.save_product(
        conn,
        None,
        {
            "kind": ItemKind.ADDON,
            "name": "Backups",
            "addon_of": made["Hosting"],
            "pricing": [price("USD", "2.00")],
        },
    )
    other_id, _ = await client_session(conn, "other@example.com")
    [theirs] = await accepted_hosting(conn, other_id, 1)
    _, token = await client_session(conn)
    hosting = await payload_of(api, token, PLACE_MY_ORDER, input={"items": [item(made["Hosting"])]})
    [service] = hosting["order"]["items"]

    refused = await payload_of(
        api,
        token,
        PLACE_MY_ORDER,
        input={"items": [item(backups.id), item(backups.id, serviceId=theirs)]},
    )
    ordered = await payload_of(
        api, token, PLACE_MY_ORDER, input={"items": [item(backups.id, serviceId=service["id"])]}
    )
    mine = await gql(api, ADDON_SERVICES, token=token)

    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        ("items.0.serviceId", "REQUIRED"),
        ("items.1.serviceId", "NOT_FOUND"),
    ]
    assert ordered["errors"] == []
    addon_id = ordered["order"]["items"][0]["id"]
    assert mine["data"]["me"]["services"] == [
        {
            "name": "Hosting",
            "serviceId": None,
            "addons": [{"name": "Backups", "serviceId": service["id"], "amount": "2.00"}],
        }
    ]
    shown = await gql(api, "query { me { addons { id serviceId addons { id } } } }", token=token)
    assert shown["data"]["me"]["addons"] == [
        {"id": addon_id, "serviceId": service["id"], "addons": []}
    ]
