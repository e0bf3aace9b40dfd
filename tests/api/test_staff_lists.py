"""The staff lists of every client's invoices, tickets and services (issue 20): each filter
keeps what it says, each order sorts, pages follow one another by cursor with nothing lost
or repeated, the totals count the filtered rows, and a filter that cannot match is refused
naming its argument."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from domain.billing import invoices, orders
from domain.billing.models import ItemKind
from domain.tickets import services as tickets
from tests.conftest import add_client, gid, gql

TODAY = date.today()


async def _invoice(conn: asyncpg.Connection, client_id: int, due_in_days: int, status: str) -> str:
    made = await invoices.create_invoice(
        conn,
        client_id,
        items=[{"description": "Hosting", "amount": "10.00"}],
        due_date=TODAY + timedelta(days=due_in_days),
        payment_method=None,
        staff_id=None,
    )
    await conn.execute("UPDATE invoices SET status = $2 WHERE id = $1", made.id, status)
    return gid("Invoice", made.id)


@pytest.fixture
async def clients(conn: asyncpg.Connection) -> dict[str, int]:
    joe = await add_client(conn, email="joe@example.com")
    ann = await add_client(conn, first_name="Ann", email="ann@example.com")
    return {"joe": joe.id, "ann": ann.id}


@pytest.fixture
async def invoice_ids(conn: asyncpg.Connection, clients: dict[str, int]) -> dict[str, str]:
    """Joe: overdue (due 10 days ago), unpaid and due in 5 days, paid 20 days ago; Ann:
    overdue (due 3 days ago), cancelled in 30 days."""
    return {
        "joe overdue": await _invoice(conn, clients["joe"], -10, "UNPAID"),
        "joe upcoming": await _invoice(conn, clients["joe"], 5, "UNPAID"),
        "joe paid": await _invoice(conn, clients["joe"], -20, "PAID"),
        "ann overdue": await _invoice(conn, clients["ann"], -3, "UNPAID"),
        "ann cancelled": await _invoice(conn, clients["ann"], 30, "CANCELLED"),
    }


INVOICES = """query($first: Int, $after: String, $status: [InvoiceStatus!], $overdue: Boolean,
                    $dueBefore: Date, $dueAfter: Date, $clientId: ID, $orderBy: InvoiceOrder) {
  invoices(first: $first, after: $after, status: $status, overdue: $overdue,
           dueBefore: $dueBefore, dueAfter: $dueAfter, clientId: $clientId, orderBy: $orderBy) {
    totalCount totalCountIsEstimate edges { node { id } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _ids(api: httpx.AsyncClient, token: str, query: str, **variables: Any) -> list[str]:
    body = await gql(api, query, variables, token=token)
    [connection] = body["data"].values()
    assert connection["totalCount"] == len(connection["edges"])
    assert connection["totalCountIsEstimate"] is False
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_the_invoice_list_keeps_what_each_filter_says(
    api: httpx.AsyncClient, admin_token: str, invoice_ids: dict[str, str], clients: dict[str, int]
) -> None:
    async def names(**variables: Any) -> set[str]:
        by_id = {v: k for k, v in invoice_ids.items()}
        return {by_id[i] for i in await _ids(api, admin_token, INVOICES, **variables)}

    assert await names() == set(invoice_ids)
    assert await names(status=["PAID", "CANCELLED"]) == {"joe paid", "ann cancelled"}
    assert await names(overdue=True) == {"joe overdue", "ann overdue"}
    assert await names(overdue=False) == {"joe upcoming", "joe paid", "ann cancelled"}
    before = str(TODAY - timedelta(days=3))
    assert await names(dueBefore=before) == {"joe overdue", "joe paid"}
    assert await names(dueAfter=before) == {"joe upcoming", "ann cancelled"}
    assert await names(dueAfter=str(TODAY - timedelta(days=15)), dueBefore=before) == {
        "joe overdue"
    }
    assert await names(clientId=gid("Client", clients["ann"])) == {"ann overdue", "ann cancelled"}
    assert await names(clientId=gid("Client", clients["joe"]), overdue=True) == {"joe overdue"}


async def test_the_invoice_list_is_newest_first_and_sorts_by_due_date_both_ways(
    api: httpx.AsyncClient, admin_token: str, invoice_ids: dict[str, str]
) -> None:
    made = list(invoice_ids.values())
    by_due = [invoice_ids[n] for n in ("joe paid", "joe overdue", "ann overdue", "joe upcoming")]
    by_due.append(invoice_ids["ann cancelled"])

    assert await _ids(api, admin_token, INVOICES) == made[::-1]
    due = {"field": "DUE_DATE", "direction": "ASC"}
    assert await _ids(api, admin_token, INVOICES, orderBy=due) == by_due
    due_desc = {"field": "DUE_DATE", "direction": "DESC"}
    assert await _ids(api, admin_token, INVOICES, orderBy=due_desc) == by_due[::-1]


async def test_pages_of_a_filtered_list_follow_one_another_by_cursor_with_its_total(
    api: httpx.AsyncClient, admin_token: str, invoice_ids: dict[str, str]
) -> None:
    seen: list[str] = []
    after = None
    variables = {
        "first": 1,
        "status": ["UNPAID"],
        "orderBy": {"field": "DUE_DATE", "direction": "ASC"},
    }
    while True:
        body = await gql(api, INVOICES, {**variables, "after": after}, token=admin_token)
        page = body["data"]["invoices"]
        assert page["totalCount"] == 3
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == [invoice_ids[n] for n in ("joe overdue", "ann overdue", "joe upcoming")]


async def test_a_cursor_of_one_order_is_refused_in_another(
    api: httpx.AsyncClient, admin_token: str, invoice_ids: dict[str, str]
) -> None:
    body = await gql(api, INVOICES, {"first": 1}, token=admin_token)
    cursor = body["data"]["invoices"]["pageInfo"]["endCursor"]

    refused = await gql(
        api,
        INVOICES,
        {"after": cursor, "orderBy": {"field": "DUE_DATE"}},
        token=admin_token,
        allow_errors=True,
    )

    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("days_apart", [-1, 0, 1])
async def test_a_due_range_that_holds_no_day_is_refused_naming_due_before(
    api: httpx.AsyncClient, admin_token: str, days_apart: int
) -> None:
    variables = {"dueAfter": str(TODAY), "dueBefore": str(TODAY + timedelta(days=days_apart))}

    body = await gql(api, INVOICES, variables, token=admin_token, allow_errors=True)

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "dueBefore"}
    assert error["path"] == ["invoices"]


async def test_a_client_id_of_no_client_lists_nothing(
    api: httpx.AsyncClient, admin_token: str, invoice_ids: dict[str, str]
) -> None:
    for query in (INVOICES, TICKETS, SERVICES):
        ids = await _ids(api, admin_token, query, clientId=invoice_ids["joe paid"])
        assert ids == []


TICKETS = """query($status: [TicketStatus!], $clientId: ID, $orderBy: TicketOrder) {
  tickets(status: $status, clientId: $clientId, orderBy: $orderBy) {
    totalCount totalCountIsEstimate edges { node { id subject } }
  }
}"""


async def test_the_ticket_list_filters_by_status_and_client_and_sorts_by_last_activity(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, clients: dict[str, int]
) -> None:
    made = {}
    for name, client, status, hours_ago in (
        ("joe waiting", "joe", "OPEN", 5),
        ("joe answered", "joe", "ANSWERED", 1),
        ("ann replied", "ann", "CUSTOMER_REPLY", 3),
    ):
        writer = await tickets.writer_of_viewer(conn, clients[client], None)
        ticket = await tickets.open_ticket(
            conn, writer, name, "Help.", client_area_url="http://127.0.0.1:8000"
        )
        await conn.execute(
            "UPDATE tickets SET status = $2, updated_at = now() - make_interval(hours => $3) "
            "WHERE id = $1",
            ticket.id,
            status,
            hours_ago,
        )
        made[gid("Ticket", ticket.id)] = name

    async def names(**variables: Any) -> list[str]:
        return [made[i] for i in await _ids(api, admin_token, TICKETS, **variables)]

    assert await names() == ["ann replied", "joe answered", "joe waiting"]
    assert await names(status=["OPEN", "CUSTOMER_REPLY"]) == ["ann replied", "joe waiting"]
    assert await names(clientId=gid("Client", clients["joe"])) == ["joe answered", "joe waiting"]
    oldest_waiting = {"field": "UPDATED_AT", "direction": "ASC"}
    assert await names(orderBy=oldest_waiting) == ["joe waiting", "ann replied", "joe answered"]


SERVICES = """query($status: [ServiceStatus!], $clientId: ID, $dueBefore: Date,
                    $orderBy: ServiceOrder) {
  services(status: $status, clientId: $clientId, dueBefore: $dueBefore, orderBy: $orderBy) {
    totalCount totalCountIsEstimate edges { node { id name } }
  }
}"""


async def test_the_service_list_filters_by_status_client_and_due_date_undated_last(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, clients: dict[str, int]
) -> None:
    for client, names in (("joe", ["joe due soon", "joe one-time"]), ("ann", ["ann due later"])):
        await orders.place_order(
            conn,
            clients[client],
            items=[{"kind": ItemKind.SERVICE, "name": n, "amount": "5.00"} for n in names],
            payment_method=None,
            staff_id=None,
        )
    for name, status, due_in_days in (
        ("joe due soon", "ACTIVE", 2),
        ("joe one-time", "ACTIVE", None),
        ("ann due later", "SUSPENDED", 40),
    ):
        due = None if due_in_days is None else TODAY + timedelta(days=due_in_days)
        await conn.execute(
            "UPDATE services SET status = $2, next_due_date = $3 WHERE name = $1", name, status, due
        )

    async def names(**variables: Any) -> list[str]:
        body = await gql(api, SERVICES, variables, token=admin_token)
        return [edge["node"]["name"] for edge in body["data"]["services"]["edges"]]

    assert await names() == ["joe due soon", "joe one-time", "ann due later"]
    assert await names(status=["SUSPENDED"]) == ["ann due later"]
    assert await names(clientId=gid("Client", clients["joe"])) == ["joe due soon", "joe one-time"]
    assert await names(dueBefore=str(TODAY + timedelta(days=30))) == ["joe due soon"]
    by_due = {"field": "NEXT_DUE_DATE", "direction": "ASC"}
    assert await names(orderBy=by_due) == ["joe due soon", "ann due later", "joe one-time"]
    by_due_desc = {"field": "NEXT_DUE_DATE", "direction": "DESC"}
    assert await names(orderBy=by_due_desc) == ["joe one-time", "ann due later", "joe due soon"]
