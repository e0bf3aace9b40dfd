"""SPEC 3.6 at the edges, through GraphQL: amounts are plain ASCII decimals, and every sum the
API would store (a credit balance, an invoice's total) is checked against NUMERIC(14, 2)
before it is written, so that going past it is a field error that changes nothing rather
than a masked "Internal error."."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth.permissions import StaffRole
from tests.api.test_billing import CREATE_INVOICE, RECORD_PAYMENT, place
from tests.api.test_credit import (
    ERRORS,
    add_credit,
    ledger_state,
    open_staff_session,
    payload_of,
)
from tests.conftest import add_client, gid

MAX = "999999999999.99"
ABOVE_MAX = [("amount", "INVALID")]


@pytest.fixture
async def staff_token(conn: asyncpg.Connection) -> str:
    return await open_staff_session(conn, StaffRole.BILLING, "billing@staff.example.com")


@pytest.fixture
async def client_pk(conn: asyncpg.Connection) -> int:
    return (await add_client(conn)).id


def field_codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def create_invoice(
    api: httpx.AsyncClient, token: str, client_pk: int, *amounts: str
) -> dict[str, Any]:
    items = [{"description": f"Line {n}", "amount": a} for n, a in enumerate(amounts)]
    return await payload_of(
        api, token, CREATE_INVOICE, clientId=gid("Client", client_pk), input={"items": items}
    )


async def invoice_rows(conn: asyncpg.Connection) -> list[tuple[Any, ...]]:
    rows = await conn.fetch(
        "SELECT number, status, total, credit, amount_paid, balance FROM invoices ORDER BY id"
    )
    return [tuple(row) for row in rows]


# --- the three reported 500s ------------------------------------------------------------------


async def test_3_6_credit_added_onto_the_largest_balance_is_a_field_error(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    assert (await add_credit(api, staff_token, client_pk, MAX))["client"] == {
        "id": gid("Client", client_pk),
        "creditBalance": MAX,
    }

    refused = await add_credit(api, staff_token, client_pk, "0.01")

    assert refused["client"] is None
    assert field_codes(refused) == ABOVE_MAX
    assert "999,999,999,999.99" in refused["errors"][0]["message"]
    assert await ledger_state(conn, client_pk) == (Decimal(MAX), Decimal(MAX), 1)


async def test_3_6_an_invoice_of_two_maximal_items_is_a_field_error_and_uses_no_number(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    refused = await create_invoice(api, staff_token, client_pk, MAX, MAX)

    assert refused["invoice"] is None
    assert field_codes(refused) == [("items", "INVALID")]
    assert await invoice_rows(conn) == []
    assert await conn.fetchval("SELECT count(*) FROM invoice_items") == 0

    # The largest total that fits is taken, and it is the first invoice number.
    made = await create_invoice(api, staff_token, client_pk, "999999999999.00", "0.99")
    assert (made["invoice"]["number"], made["invoice"]["total"]) == (1, MAX)


async def test_3_6_an_order_whose_invoice_cannot_be_stored_is_a_field_error(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    refused = await place(
        api, staff_token, client_pk, ("SERVICE", "Big", MAX), ("DOMAIN", "big.example", MAX)
    )

    assert refused["order"] is None
    assert field_codes(refused) == [("items", "INVALID")]
    for table in ("orders", "services", "domains", "invoices"):
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_3_6_an_overpayment_past_the_largest_balance_is_a_field_error(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    invoice = (await create_invoice(api, staff_token, client_pk, "10.00"))["invoice"]
    await add_credit(api, staff_token, client_pk, "999999999995.00")
    before = await invoice_rows(conn)

    refused = await payload_of(
        api,
        staff_token,
        RECORD_PAYMENT,
        invoiceId=invoice["id"],
        amount="20.00",
        gateway="banktransfer",
    )

    assert refused["invoice"] is None
    assert field_codes(refused) == ABOVE_MAX
    assert await invoice_rows(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0
    assert await ledger_state(conn, client_pk) == (
        Decimal("999999999995.00"),
        Decimal("999999999995.00"),
        1,
    )


# --- plain ASCII decimals ---------------------------------------------------------------------

LOOSE_AMOUNTS = [
    "1_000",
    "\u0661\u0662",  # Arabic-Indic 12
    "\uff11\uff12",  # fullwidth 12
    "1e3",
    "1E+3",
    " 12",
    "12 ",
    "12\n",
    "12.345",
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-inf",
    "+-1",
    "+12",
    ".5",
    "5.",
    "1,000",
]


@pytest.mark.parametrize("amount", LOOSE_AMOUNTS, ids=ascii)
async def test_3_6_only_plain_ascii_decimals_are_amounts(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int, amount: str
) -> None:
    refused = await add_credit(api, staff_token, client_pk, amount)

    assert refused["client"] is None
    assert field_codes(refused) == [("amount", "INVALID")]
    assert refused["errors"][0]["message"]
    assert await ledger_state(conn, client_pk) == (Decimal(0), Decimal(0), 0)


@pytest.mark.parametrize("literal", ["1e3", "1E3", "-0e1"])
async def test_3_6_amount_literals_with_exponents_are_refused(
    api: httpx.AsyncClient, staff_token: str, client_pk: int, literal: str
) -> None:
    document = f"""mutation {{
      addCredit(clientId: "{gid("Client", client_pk)}", amount: {literal}, description: "x") {{
        client {{ creditBalance }} {ERRORS}
      }}
    }}"""
    refused = await payload_of(api, staff_token, document)
    assert refused["client"] is None
    assert field_codes(refused) == [("amount", "INVALID")]


# --- fees ---------------------------------------------------------------------------------------


async def test_3_4_fees_above_the_amount_received_are_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str, client_pk: int
) -> None:
    invoice = (await create_invoice(api, staff_token, client_pk, "100.00"))["invoice"]

    refused = await payload_of(
        api,
        staff_token,
        RECORD_PAYMENT,
        invoiceId=invoice["id"],
        amount="1.00",
        fees="50.00",
        gateway="banktransfer",
    )
    assert refused["invoice"] is None
    assert field_codes(refused) == [("fees", "INVALID")]
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0

    # Fees as large as the payment itself are possible (a gateway keeping all of it).
    paid = await payload_of(
        api,
        staff_token,
        RECORD_PAYMENT,
        invoiceId=invoice["id"],
        amount="1.00",
        fees="1.00",
        gateway="banktransfer",
    )
    assert (paid["transaction"]["amount"], paid["transaction"]["fees"]) == ("1.00", "1.00")
    assert paid["invoice"]["balance"] == "99.00"


async def test_3_6_a_payment_of_the_largest_amount_pays_the_largest_invoice(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn, email="big@example.com")
    invoice = (await create_invoice(api, staff_token, client.id, MAX))["invoice"]

    paid = await payload_of(
        api,
        staff_token,
        RECORD_PAYMENT,
        invoiceId=invoice["id"],
        amount=MAX,
        fees=MAX,
        gateway="banktransfer",
    )

    assert paid["errors"] == []
    assert (paid["invoice"]["status"], paid["invoice"]["amountPaid"]) == ("PAID", MAX)
