"""SPEC 13.1 through GraphQL: staff list payment gateways, turn them on and off and rename
them; the test gateway cannot be turned on in production."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from app.settings import Settings
from tests.api.test_serving import admin_session, serve
from tests.conftest import add_client, gid, gql

ERRORS = "errors { field code message }"
GATEWAY = "name displayName kind enabled canRefund"
GATEWAYS = f"query {{ paymentGateways {{ {GATEWAY} }} }}"
UPDATE = f"""
mutation Update($name: String!, $input: PaymentGatewayInput!) {{
  updatePaymentGateway(name: $name, input: $input) {{ gateway {{ {GATEWAY} }} {ERRORS} }}
}}"""
UPDATE_CLIENT = f"""
mutation Update($id: ID!, $input: UpdateClientInput!) {{
  updateClient(id: $id, input: $input) {{ {ERRORS} }}
}}"""
SET_METHOD = f"""
mutation SetMethod($id: ID!, $method: String!) {{
  setClientPaymentMethod(id: $id, paymentMethod: $method) {{ {ERRORS} }}
}}"""


async def update(api: httpx.AsyncClient, token: str, name: str, **changes: Any) -> dict[str, Any]:
    body = await gql(api, UPDATE, {"name": name, "input": changes}, token=token)
    payload: dict[str, Any] = body["data"]["updatePaymentGateway"]
    return payload


async def gateway_row(conn: asyncpg.Connection, name: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT display_name, enabled FROM payment_gateways WHERE name = $1", name
    )


async def test_13_1_staff_list_every_gateway_with_its_kind_and_whether_it_refunds(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await admin_session(conn)
    body = await gql(api, GATEWAYS, {}, token=token)
    assert body["data"]["paymentGateways"] == [
        {
            "name": "banktransfer",
            "displayName": "Bank Transfer",
            "kind": "MANUAL",
            "enabled": True,
            "canRefund": False,
        },
        {
            "name": "mailin",
            "displayName": "Mail In Payment",
            "kind": "MANUAL",
            "enabled": True,
            "canRefund": False,
        },
        {
            "name": "stripe",
            "displayName": "Stripe",
            "kind": "MERCHANT",
            "enabled": False,  # until STRIPE_SECRET_KEY is set and staff turn it on
            "canRefund": True,
        },
        {
            "name": "testcard",
            "displayName": "Test Card Gateway",
            "kind": "MERCHANT",
            "enabled": True,  # the suite turns it on, as `clientdesk dev` does
            "canRefund": True,  # its plug-in refunds
        },
    ]


async def test_13_1_staff_turn_a_gateway_off_and_rename_it_audited(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await admin_session(conn)
    payload = await update(api, token, "mailin", enabled=False, displayName="  Cheque ")
    assert payload["errors"] == []
    assert payload["gateway"] == {
        "name": "mailin",
        "displayName": "Cheque",
        "kind": "MANUAL",
        "enabled": False,
        "canRefund": False,
    }
    assert dict(await gateway_row(conn, "mailin")) == {"display_name": "Cheque", "enabled": False}
    audited = await conn.fetchrow("SELECT action, client_id, changes FROM audit_log")
    assert dict(audited) == {
        "action": "payment_gateway.updated",
        "client_id": None,
        "changes": {
            "name": "mailin",
            "enabled": [True, False],
            "display_name": ["Mail In Payment", "Cheque"],
        },
    }
    again = await update(api, token, "mailin", enabled=True)
    assert (again["errors"], again["gateway"]["enabled"]) == ([], True)


async def test_13_1_an_unknown_gateway_is_not_found_on_name(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await admin_session(conn)
    payload = await update(api, token, "nosuchgateway", enabled=False)
    assert payload["gateway"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("name", "NOT_FOUND")]


async def test_13_1_a_blank_display_name_is_refused_and_changes_nothing(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await admin_session(conn)
    payload = await update(api, token, "banktransfer", enabled=False, displayName="   ")
    assert payload["gateway"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("displayName", "REQUIRED")]
    assert dict(await gateway_row(conn, "banktransfer")) == {
        "display_name": "Bank Transfer",
        "enabled": True,
    }
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0


async def test_13_1_the_test_gateway_cannot_be_turned_on_in_production(
    settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await conn.execute("UPDATE payment_gateways SET enabled = false WHERE name = 'testcard'")
    token = await admin_session(conn)
    async with serve(settings.model_copy(update={"environment": "production"})) as api:
        refused = await update(api, token, "testcard", enabled=True, displayName="Cards")
        # Turning it off, or anything else, is still allowed there.
        renamed = await update(api, token, "banktransfer", displayName="Wire")
    assert refused["gateway"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("enabled", "INVALID")]
    assert dict(await gateway_row(conn, "testcard")) == {
        "display_name": "Test Card Gateway",
        "enabled": False,
    }
    assert (renamed["errors"], renamed["gateway"]["displayName"]) == ([], "Wire")


async def test_13_1_the_test_gateway_can_be_turned_on_outside_production(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await conn.execute("UPDATE payment_gateways SET enabled = false WHERE name = 'testcard'")
    token = await admin_session(conn)
    payload = await update(api, token, "testcard", enabled=True)
    assert (payload["errors"], payload["gateway"]["enabled"]) == ([], True)


async def test_13_1_turning_off_a_clients_default_gateway_moves_nobody_but_it_cannot_be_chosen(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, default_payment_method="banktransfer")
    other = await add_client(conn, email="other@example.com")
    token = await admin_session(conn)
    assert (await update(api, token, "banktransfer", enabled=False))["errors"] == []
    assert (
        await conn.fetchval("SELECT default_payment_method FROM clients WHERE id = $1", client.id)
        == "banktransfer"
    )
    body = await gql(
        api, SET_METHOD, {"id": gid("Client", other.id), "method": "banktransfer"}, token=token
    )
    errors = body["data"]["setClientPaymentMethod"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("paymentMethod", "INVALID")]


async def test_13_1_a_form_posting_a_clients_disabled_default_unchanged_is_taken(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, default_payment_method="banktransfer")
    token = await admin_session(conn)
    assert (await update(api, token, "banktransfer", enabled=False))["errors"] == []
    body = await gql(
        api,
        UPDATE_CLIENT,
        {
            "id": gid("Client", client.id),
            "input": {"lastName": "Renamed", "defaultPaymentMethod": "banktransfer"},
        },
        token=token,
    )
    assert body["data"]["updateClient"]["errors"] == []
    assert await conn.fetchval("SELECT last_name FROM clients WHERE id = $1", client.id) == (
        "Renamed"
    )
    # Newly choosing it, or setting it everywhere again, is still refused while it is off.
    body = await gql(
        api, SET_METHOD, {"id": gid("Client", client.id), "method": "banktransfer"}, token=token
    )
    errors = body["data"]["setClientPaymentMethod"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("paymentMethod", "INVALID")]
