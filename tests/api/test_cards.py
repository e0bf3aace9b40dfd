"""SPEC 4 through the API: staff save, see, reveal and clear a client's stored card."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth.permissions import ContactPermission, StaffRole
from tests.api.test_clients import added_client, refusals
from tests.api.test_sub_accounts import add_sub_account, owner_session
from tests.conftest import gid, gql

NUMBER = "4111111111111111"

SAVE_CARD = """
mutation Save($clientId: ID!, $input: CardInput!) {
  saveCard(clientId: $clientId, input: $input) {
    client { id card { cardType lastFour expiry issueNumber startDate } }
    errors { field code message }
  }
}"""
CLEAR_CARD = """
mutation Clear($clientId: ID!) {
  clearCard(clientId: $clientId) { client { card { lastFour } } errors { field code message } }
}"""
REVEAL = """
mutation Reveal($clientId: ID!, $secret: String!) {
  revealCardNumber(clientId: $clientId, encryptionSecret: $secret) {
    number errors { field code message }
  }
}"""
CARD_OF = "query Card($id: ID!) { client(id: $id) { card { cardType lastFour expiry } } }"


async def save_card(
    api: httpx.AsyncClient, token: str, client_id: str, **card: Any
) -> dict[str, Any]:
    card = {"number": "4111 1111 1111 1111", "expiry": "12/30", **card}
    body = await gql(api, SAVE_CARD, {"clientId": client_id, "input": card}, token=token)
    payload: dict[str, Any] = body["data"]["saveCard"]
    return payload


async def reveal(api: httpx.AsyncClient, token: str, client_id: str, secret: str) -> dict[str, Any]:
    body = await gql(api, REVEAL, {"clientId": client_id, "secret": secret}, token=token)
    payload: dict[str, Any] = body["data"]["revealCardNumber"]
    return payload


async def test_4_1_staff_see_the_card_without_its_number(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    client = await added_client(api, admin_token)
    payload = await save_card(api, admin_token, client["id"], issueNumber="1", startDate="02/24")
    assert payload["errors"] == []
    assert payload["client"]["card"] == {
        "cardType": "Visa",
        "lastFour": "1111",
        "expiry": "12/30",
        "issueNumber": "1",
        "startDate": "02/24",
    }
    body = await gql(api, CARD_OF, {"id": client["id"]}, token=admin_token)
    assert body["data"]["client"]["card"]["lastFour"] == "1111"


async def test_4_2_a_cvv_given_with_a_card_stored_here_is_never_stored(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection
) -> None:
    body = await gql(api, '{ __type(name: "CardInput") { inputFields { name } } }')
    names = {f["name"] for f in body["data"]["__type"]["inputFields"]}
    # `cvc` only goes on to a gateway that keeps the card (SPEC 4.5; tests/api/test_stripe.py).
    assert names == {"number", "expiry", "issueNumber", "startDate", "cvc"}
    client = await added_client(api, admin_token)
    assert (await save_card(api, admin_token, client["id"], cvc="737"))["errors"] == []
    stored = await conn.fetchval(
        "SELECT (SELECT jsonb_agg(to_jsonb(c) - 'ciphertext' - 'nonce')::text FROM cards c) "
        "|| (SELECT jsonb_agg(a)::text FROM audit_log a)"
    )
    assert '"737"' not in stored


async def test_4_2_an_invalid_card_is_refused_per_field(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    client = await added_client(api, admin_token)
    payload = await save_card(
        api, admin_token, client["id"], number="4111111111111112", expiry="01/20", startDate="x"
    )
    assert payload["client"] is None
    assert refusals(payload) == {
        ("number", "INVALID"),
        ("expiry", "INVALID"),
        ("startDate", "INVALID"),
    }
    body = await gql(api, CARD_OF, {"id": client["id"]}, token=admin_token)
    assert body["data"]["client"]["card"] is None


async def test_4_2_a_card_for_an_unknown_client_is_not_found(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    payload = await save_card(api, admin_token, gid("Client", 999))
    assert refusals(payload) == {("clientId", "NOT_FOUND")}


async def test_4_3_the_card_secret_reveals_the_number_and_a_wrong_one_nothing(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection
) -> None:
    client = await added_client(api, admin_token)
    await save_card(api, admin_token, client["id"])

    refused = await reveal(api, admin_token, client["id"], "not-the-secret")
    assert refused["number"] is None
    assert refusals(refused) == {("encryptionSecret", "INVALID")}
    granted = await reveal(api, admin_token, client["id"], "test-card-secret")
    assert granted == {"number": NUMBER, "errors": []}

    actions = await conn.fetch(
        "SELECT action, staff_id FROM audit_log WHERE action LIKE 'card.%' ORDER BY id"
    )
    assert [r["action"] for r in actions] == ["card.save", "card.reveal_refused", "card.reveal"]
    assert all(r["staff_id"] is not None for r in actions)


async def test_4_3_the_number_appears_in_no_log_audit_entry_or_email(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await added_client(api, admin_token)
    await save_card(api, admin_token, client["id"])
    await reveal(api, admin_token, client["id"], "wrong")
    await reveal(api, admin_token, client["id"], "test-card-secret")
    await save_card(api, admin_token, client["id"], number="4111111111111112")  # refused

    assert NUMBER not in caplog.text and "4111111111111112" not in caplog.text
    rows = await conn.fetchval(
        "SELECT string_agg(changes::text, ' ') FROM audit_log"
    ) + await conn.fetchval("SELECT coalesce(string_agg(e::text, ' '), '') FROM emails e")
    assert NUMBER[:12] not in rows


async def test_4_4_clearing_the_card_removes_it(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection
) -> None:
    client = await added_client(api, admin_token)
    await save_card(api, admin_token, client["id"])
    body = await gql(api, CLEAR_CARD, {"clientId": client["id"]}, token=admin_token)
    assert body["data"]["clearCard"] == {"client": {"card": None}, "errors": []}
    assert await conn.fetchval("SELECT count(*) FROM cards") == 0
    after = await reveal(api, admin_token, client["id"], "test-card-secret")
    assert refusals(after) == {("clientId", "NOT_FOUND")}


@pytest.mark.parametrize("role", [StaffRole.SUPPORT, StaffRole.READ_ONLY])
async def test_4_3_staff_without_the_card_permission_cannot_touch_cards(
    api: httpx.AsyncClient, admin_token: str, make_staff: Any, role: StaffRole
) -> None:
    client = await added_client(api, admin_token)
    await save_card(api, admin_token, client["id"])
    token = await make_staff(role)
    for query, variables in [
        (SAVE_CARD, {"clientId": client["id"], "input": {"number": NUMBER, "expiry": "12/30"}}),
        (CLEAR_CARD, {"clientId": client["id"]}),
        (REVEAL, {"clientId": client["id"], "secret": "test-card-secret"}),
    ]:
        body = await gql(api, query, variables, token=token, allow_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_4_1_in_the_client_area_the_card_needs_the_invoices_permission(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection
) -> None:
    client = await added_client(api, admin_token)
    await save_card(api, admin_token, client["id"])
    client_pk = await conn.fetchval("SELECT id FROM clients")
    owner = await owner_session(conn, client_pk)
    billing = await add_sub_account(
        conn, client_pk, "bill@example.com", {ContactPermission.INVOICES}
    )
    other = await add_sub_account(conn, client_pk, "tech@example.com", {ContactPermission.PROFILE})
    query = "{ me { card { lastFour } } }"

    for token in (owner, billing.token):
        body = await gql(api, query, token=token)
        assert body["data"]["me"]["card"] == {"lastFour": "1111"}
    refused = await gql(api, query, token=other.token, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
