"""SPEC 3.1–3.3 and 3.6 through GraphQL: the credit mutations, the credit log of staff and
the client area, the Decimal scalar, idempotency keys and concurrent credit operations.

Sessions are opened on the domain directly, so that argon2 does not dominate the run time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from tests.conftest import CountedApi, add_client, gid, gql

TTL = timedelta(hours=1)
ERRORS = "errors { field code message }"
ENTRY = "entry { id date description amount staff }"

ADD_CREDIT = f"""
mutation AddCredit($clientId: ID!, $amount: Decimal!, $description: String!, $key: String) {{
  addCredit(clientId: $clientId, amount: $amount, description: $description,
            idempotencyKey: $key) {{
    client {{ id creditBalance }} {ENTRY} {ERRORS}
  }}
}}"""
REMOVE_CREDIT = f"""
mutation RemoveCredit($clientId: ID!, $amount: Decimal!, $reason: String!, $key: String) {{
  removeCredit(clientId: $clientId, amount: $amount, reason: $reason, idempotencyKey: $key) {{
    client {{ id creditBalance }} {ENTRY} {ERRORS}
  }}
}}"""
DELETE_ENTRY = f"""
mutation DeleteEntry($id: ID!) {{
  deleteCreditEntry(id: $id) {{ client {{ id creditBalance }} {ENTRY} {ERRORS} }}
}}"""
CREDIT_LOG = """
query CreditLog($id: ID!) {
  client(id: $id) { creditBalance creditLog { id date description amount staff } }
}"""
MY_CREDIT_LOG = "query { me { creditBalance creditLog { description amount staff } } }"


async def open_staff_session(conn: asyncpg.Connection, role: StaffRole, email: str) -> str:
    login_id = await conn.fetchval("INSERT INTO logins (email) VALUES ($1) RETURNING id", email)
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Sam', 'Staff', $2)",
        login_id,
        role.value,
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


@pytest.fixture
async def staff_token(conn: asyncpg.Connection) -> str:
    return await open_staff_session(conn, StaffRole.BILLING, "billing@staff.example.com")


@pytest.fixture
async def client_pk(conn: asyncpg.Connection) -> int:
    client = await add_client(conn)
    return client.id


async def payload_of(
    api: httpx.AsyncClient, token: str, document: str, **variables: Any
) -> dict[str, Any]:
    body = await gql(api, document, variables, token=token)
    [payload] = body["data"].values()
    assert isinstance(payload, dict)
    return payload


async def add_credit(
    api: httpx.AsyncClient, token: str, client_pk: int, amount: Any, **variables: Any
) -> dict[str, Any]:
    return await payload_of(
        api,
        token,
        ADD_CREDIT,
        clientId=gid("Client", client_pk),
        amount=amount,
        description=variables.pop("description", "Goodwill"),
        **variables,
    )


async def remove_credit(
    api: httpx.AsyncClient, token: str, client_pk: int, amount: Any, **variables: Any
) -> dict[str, Any]:
    return await payload_of(
        api,
        token,
        REMOVE_CREDIT,
        clientId=gid("Client", client_pk),
        amount=amount,
        reason="Refund",
        **variables,
    )


async def ledger_state(conn: asyncpg.Connection, client_pk: int) -> tuple[Decimal, Decimal, int]:
    """Balance, sum of the log and number of log rows."""
    row = await conn.fetchrow(
        """SELECT c.credit_balance, coalesce(sum(l.amount), 0) AS total, count(l.id) AS rows
             FROM clients c LEFT JOIN credit_log l ON l.client_id = c.id
            WHERE c.id = $1 GROUP BY c.id""",
        client_pk,
    )
    return row["credit_balance"], row["total"], row["rows"]


# --- SPEC 3.1–3.3 -----------------------------------------------------------------------------


async def test_3_1_staff_add_credit_and_the_log_records_it(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    payload = await add_credit(api, staff_token, client_pk, "25.50", description="Goodwill")
    assert payload["errors"] == []
    assert payload["client"] == {"id": gid("Client", client_pk), "creditBalance": "25.50"}
    entry = payload["entry"]
    assert (entry["description"], entry["amount"], entry["staff"]) == (
        "Goodwill",
        "25.50",
        "Sam Staff",
    )
    body = await gql(api, CREDIT_LOG, {"id": gid("Client", client_pk)}, token=staff_token)
    assert body["data"]["client"] == {"creditBalance": "25.50", "creditLog": [entry]}
    audited = await conn.fetchrow(
        "SELECT staff_id, action FROM audit_log WHERE action = 'credit.added'"
    )
    assert audited["staff_id"] is not None


async def test_3_1_credit_is_refused_per_field_and_nothing_changes(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    payload = await add_credit(api, staff_token, client_pk, "0", description="")
    assert payload["client"] is None and payload["entry"] is None
    assert {(e["field"], e["code"]) for e in payload["errors"]} == {
        ("amount", "INVALID"),
        ("description", "REQUIRED"),
    }
    assert await ledger_state(conn, client_pk) == (Decimal(0), Decimal(0), 0)


async def test_3_1_credit_for_an_unknown_client_is_refused(
    api: httpx.AsyncClient, staff_token: str
) -> None:
    payload = await add_credit(api, staff_token, 404, "1")
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("clientId", "NOT_FOUND")]


async def test_3_2_staff_remove_credit_never_below_zero(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    await add_credit(api, staff_token, client_pk, "10")
    payload = await remove_credit(api, staff_token, client_pk, "4.25")
    assert payload["client"]["creditBalance"] == "5.75"
    assert (payload["entry"]["amount"], payload["entry"]["description"]) == ("-4.25", "Refund")
    refused = await remove_credit(api, staff_token, client_pk, "5.76")
    assert refused["client"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        ("amount", "INSUFFICIENT_CREDIT")
    ]
    assert await ledger_state(conn, client_pk) == (Decimal("5.75"), Decimal("5.75"), 2)


async def test_3_3_deleting_a_credit_entry_deducts_it(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    first = await add_credit(api, staff_token, client_pk, "10")
    await add_credit(api, staff_token, client_pk, "3")
    payload = await payload_of(api, staff_token, DELETE_ENTRY, id=first["entry"]["id"])
    assert payload["errors"] == []
    assert payload["client"]["creditBalance"] == "3.00"
    assert payload["entry"] == first["entry"]
    assert await ledger_state(conn, client_pk) == (Decimal("3.00"), Decimal("3.00"), 1)
    gone = await payload_of(api, staff_token, DELETE_ENTRY, id=first["entry"]["id"])
    assert [(e["field"], e["code"]) for e in gone["errors"]] == [("id", "NOT_FOUND")]


async def test_3_3_deleting_an_entry_is_refused_below_zero(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    first = await add_credit(api, staff_token, client_pk, "10")
    await remove_credit(api, staff_token, client_pk, "6")
    payload = await payload_of(api, staff_token, DELETE_ENTRY, id=first["entry"]["id"])
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("id", "INSUFFICIENT_CREDIT")]
    assert await ledger_state(conn, client_pk) == (Decimal("4.00"), Decimal("4.00"), 2)


# --- SPEC 3.6: exact decimals -------------------------------------------------------------------


async def test_3_6_amounts_serialise_as_strings_with_two_places(
    api: httpx.AsyncClient, staff_token: str, client_pk: int
) -> None:
    # One request per input form: a JSON number, a string, a float, a string with zeros.
    shown = []
    for amount in (5, "1.5", 2.25, "7.10"):
        payload = await add_credit(api, staff_token, client_pk, amount)
        shown.append((payload["entry"]["amount"], payload["client"]["creditBalance"]))
    assert shown == [("5.00", "5.00"), ("1.50", "6.50"), ("2.25", "8.75"), ("7.10", "15.85")]


REFUSED_AMOUNTS = [1.005, "1.005", 0, -1, "-0.01", "abc", "", "1e40", 1e40, True, "NaN", "Infinity"]


async def test_3_6_over_precise_zero_negative_absurd_and_non_numbers_are_refused_per_field(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    for amount in REFUSED_AMOUNTS:
        payload = await add_credit(api, staff_token, client_pk, amount)
        assert payload["client"] is None, amount
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("amount", "INVALID")]
    assert await ledger_state(conn, client_pk) == (Decimal(0), Decimal(0), 0)


async def test_3_6_amount_literals_in_the_query_are_read_exactly(
    api: httpx.AsyncClient, staff_token: str, client_pk: int
) -> None:
    balances = []
    for literal in ("1.005", '"2.5"', "3"):
        document = f"""mutation {{
          addCredit(clientId: "{gid("Client", client_pk)}", amount: {literal}, description: "x") {{
            client {{ creditBalance }} {ERRORS}
          }}
        }}"""
        payload = await payload_of(api, staff_token, document)
        balances.append(payload["client"] and payload["client"]["creditBalance"])
    assert balances == [None, "2.50", "5.50"]


# --- idempotency keys ---------------------------------------------------------------------------


async def test_idempotency_a_retried_add_credit_credits_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    first = await add_credit(api, staff_token, client_pk, "5", key="retry-1")
    again = await add_credit(api, staff_token, client_pk, "5.00", key="retry-1")
    assert again == first
    assert await ledger_state(conn, client_pk) == (Decimal("5.00"), Decimal("5.00"), 1)
    other = await add_credit(api, staff_token, client_pk, "6", key="retry-1")
    assert other["client"] is None
    assert [(e["field"], e["code"]) for e in other["errors"]] == [
        ("idempotencyKey", "IDEMPOTENCY_CONFLICT")
    ]


async def test_idempotency_a_retried_remove_credit_removes_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    await add_credit(api, staff_token, client_pk, "10")
    first, again = [
        await remove_credit(api, staff_token, client_pk, "4", key="retry-2") for _ in range(2)
    ]
    assert again == first
    assert await ledger_state(conn, client_pk) == (Decimal("6.00"), Decimal("6.00"), 2)


async def test_idempotency_parallel_retries_with_one_key_credit_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    payloads = await asyncio.gather(
        *(add_credit(api, staff_token, client_pk, "1.00", key="same") for _ in range(10))
    )
    assert all(p == payloads[0] for p in payloads)
    assert await ledger_state(conn, client_pk) == (Decimal("1.00"), Decimal("1.00"), 1)


# --- concurrency (SPEC 3.6) ---------------------------------------------------------------------


async def test_3_6_a_hundred_parallel_additions_lose_nothing(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    payloads = await asyncio.gather(
        *(add_credit(api, staff_token, client_pk, "1.00") for _ in range(100))
    )
    assert all(p["errors"] == [] for p in payloads)
    assert await ledger_state(conn, client_pk) == (Decimal("100.00"), Decimal("100.00"), 100)


async def test_3_6_a_hundred_parallel_spends_of_fifty_succeed_exactly_fifty_times(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    await add_credit(api, staff_token, client_pk, "50.00")
    payloads = await asyncio.gather(
        *(remove_credit(api, staff_token, client_pk, "1.00") for _ in range(100))
    )
    outcomes = [tuple((e["field"], e["code"]) for e in p["errors"]) for p in payloads]
    assert outcomes.count(()) == 50
    assert outcomes.count((("amount", "INSUFFICIENT_CREDIT"),)) == 50
    assert await ledger_state(conn, client_pk) == (Decimal("0.00"), Decimal("0.00"), 51)


# --- who may do and see what --------------------------------------------------------------------


@pytest.mark.parametrize(("role", "allowed"), [(StaffRole.ADMIN, True), (StaffRole.SUPPORT, False)])
async def test_3_1_only_staff_with_billing_rights_change_credit(
    api: httpx.AsyncClient, conn: asyncpg.Connection, client_pk: int, role: StaffRole, allowed: bool
) -> None:
    token = await open_staff_session(conn, role, f"{role.value.lower()}@staff.example.com")
    body = await gql(
        api,
        ADD_CREDIT,
        {"clientId": gid("Client", client_pk), "amount": "1", "description": "x"},
        token=token,
        allow_errors=True,
    )
    if allowed:
        assert body["data"]["addCredit"]["errors"] == []
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert await ledger_state(conn, client_pk) == (Decimal(0), Decimal(0), 0)


async def test_3_1_credit_mutations_need_a_login(api: httpx.AsyncClient, client_pk: int) -> None:
    body = await gql(
        api,
        ADD_CREDIT,
        {"clientId": gid("Client", client_pk), "amount": "1", "description": "x"},
        allow_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def add_sub_account(
    conn: asyncpg.Connection, client_pk: int, email: str, permissions: list[str]
) -> str:
    login_id = await conn.fetchval("INSERT INTO logins (email) VALUES ($1) RETURNING id", email)
    await conn.execute(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email, permissions)
           VALUES ($1, $2, 'Sub', 'Account', $3, $4)""",
        client_pk,
        login_id,
        email,
        permissions,
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def test_3_1_the_client_area_reads_its_credit_log_with_invoices_permission(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    await add_credit(api, staff_token, client_pk, "8", description="Welcome credit")
    owner_login = await conn.fetchval("SELECT owner_login_id FROM clients WHERE id = $1", client_pk)
    owner = await sessions.start_session(conn, owner_login, ttl=TTL)
    with_invoices = await add_sub_account(
        conn, client_pk, "books@example.com", [ContactPermission.INVOICES.value]
    )
    without = await add_sub_account(
        conn, client_pk, "tech@example.com", [ContactPermission.PRODUCTS.value]
    )
    expected = {
        "creditBalance": "8.00",
        "creditLog": [{"description": "Welcome credit", "amount": "8.00", "staff": "Sam Staff"}],
    }
    for token in (owner, with_invoices):
        body = await gql(api, MY_CREDIT_LOG, token=token)
        assert body["data"]["me"] == expected
    refused = await gql(api, "{ me { creditLog { id } } }", token=without, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["errors"][0]["path"] == ["me", "creditLog"]


async def test_3_1_a_page_of_clients_loads_their_credit_logs_in_one_statement(
    counted_api: CountedApi,
    conn: asyncpg.Connection,
    staff_token: str,
) -> None:
    for n in range(20):
        client = await add_client(conn, first_name=f"Client{n}", email=f"c{n}@example.com")
        await add_credit(counted_api.api, staff_token, client.id, f"{n + 1}")
    document = "query { clients(first: 50) { edges { node { creditLog { amount } } } } }"
    await counted_api.count(document, {}, staff_token)
    logs = [e["node"]["creditLog"] for e in counted_api.last_body["data"]["clients"]["edges"]]
    assert logs == [[{"amount": f"{n + 1}.00"}] for n in range(20)]
    assert sum("credit_log" in sql for sql in counted_api.statements) == 1
