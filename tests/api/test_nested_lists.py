"""A client's nested lists (contacts, emails, invoices, …) take `first` up to their cap, and
each DataLoader cuts every parent's list in its one statement, in the database, instead of
reading every row of every client to keep the first few."""

from __future__ import annotations

import asyncpg
import httpx

from domain.auth import sessions
from tests.api.test_authz_matrix import TTL
from tests.api.test_query_growth import add_client_with_everything
from tests.conftest import CountedApi, add_client, gid, gql

# The nested lists of a client, and the table each one's statement reads.
NESTED = {
    "contacts": "contacts",
    "emails": "emails",
    "creditLog": "credit_log",
    "services": "services",
    "addons": "addons",
    "domains": "domains",
    "invoices": "invoices",
    "transactions": "transactions",
    "tickets": "tickets",
    "files": "client_files",
    "quotes": "quotes",
}
# Lists add_client_with_everything gives rows (no tickets, no files).
FILLED = [name for name in NESTED if name not in ("tickets", "files")]


def page(first: int | None) -> str:
    arguments = "" if first is None else f"(first: {first})"
    lists = " ".join(f"{name}{arguments} {{ id }}" for name in NESTED)
    return f"query Nested {{ clients(first: 10) {{ edges {{ node {{ id {lists} }} }} }} }}"


async def staff_token(conn: asyncpg.Connection) -> str:
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('nested@staff.ex.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) "
        "VALUES ($1, 'Sam', 'Staff', 'ADMIN')",
        login_id,
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def add_file(conn: asyncpg.Connection, client_id: int, title: str, admin_only: bool) -> int:
    file_id: int = await conn.fetchval(
        """INSERT INTO client_files (client_id, title, filename, stored_name, content_type,
                                     size, admin_only)
           VALUES ($1, $2, 'f.pdf', md5($2), 'application/pdf', 1, $3) RETURNING id""",
        client_id,
        title,
        admin_only,
    )
    return file_id


async def test_each_nested_list_is_cut_at_first_in_its_one_statement(
    conn: asyncpg.Connection, counted_api: CountedApi
) -> None:
    for n in range(2):
        await add_client_with_everything(conn, n, 3)
    token = await staff_token(conn)
    await counted_api.count(page(None), {}, token)
    whole = counted_api.last_body["data"]["clients"]["edges"]

    await counted_api.count(page(2), {}, token)

    assert "errors" not in counted_api.last_body, counted_api.last_body
    cut = counted_api.last_body["data"]["clients"]["edges"]
    for full, first in zip(whole, cut, strict=True):
        for name in FILLED:
            assert len(full["node"][name]) > 2, name
            # The same first two, in the same order, as the whole list.
            assert first["node"][name] == full["node"][name][:2], name
    statements = [" ".join(s.split()) + " " for s in counted_api.statements]
    for name, table in NESTED.items():
        [statement] = [s for s in statements if f" FROM {table} " in s]
        assert "LATERAL" in statement and "LIMIT $2" in statement, name


async def test_client_emails_take_first_up_to_the_cap_and_the_page_honours_it(
    conn: asyncpg.Connection, counted_api: CountedApi
) -> None:
    await add_client_with_everything(conn, 0, 3)
    token = await staff_token(conn)
    document = "query($n: Int!) { clients { edges { node { emails(first: $n) { id } } } } }"

    await counted_api.count(document, {"n": 1}, token)
    [edge] = counted_api.last_body["data"]["clients"]["edges"]
    assert len(edge["node"]["emails"]) == 1
    await counted_api.count("{ clients { edges { node { emails { id } } } } }", {}, token)
    [edge] = counted_api.last_body["data"]["clients"]["edges"]
    assert len(edge["node"]["emails"]) == 3

    refused = await gql(counted_api.api, document, {"n": 201}, token=token, allow_errors=True)
    [error] = refused["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}


async def test_client_emails_are_counted_by_their_first_in_the_query_cost(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await staff_token(conn)
    # 200 clients × (200 emails + 200 invoices): 80,200 objects, over the 50,000 allowed.
    greedy = """query Greedy { clients(first: 200) { edges { node {
                  emails { subject } invoices { id } } } } }"""

    body = await gql(api, greedy, token=token, allow_errors=True)

    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_LIMIT_EXCEEDED"
    assert "'Greedy' may return 80,200 objects" in error["message"]


async def test_a_services_filter_applies_before_the_cut(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id = await add_client_with_everything(conn, 0, 3)
    last = await conn.fetchval("SELECT max(id) FROM services WHERE client_id = $1", client_id)
    await conn.execute("UPDATE services SET status = 'ACTIVE' WHERE id = $1", last)
    token = await staff_token(conn)
    document = """query($id: ID!) { client(id: $id) {
                    services(statuses: [ACTIVE], first: 1) { id status } } }"""

    body = await gql(api, document, {"id": gid("Client", client_id)}, token=token)

    assert body["data"]["client"]["services"] == [{"id": gid("Service", last), "status": "ACTIVE"}]


async def test_the_client_area_gets_its_first_files_without_the_admin_only_ones(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn)
    await add_file(conn, client.id, "Staff notes", admin_only=True)
    shared = await add_file(conn, client.id, "Terms", admin_only=False)
    owner = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    staff = await staff_token(conn)

    mine = await gql(api, "{ me { files(first: 1) { id } } }", token=owner)
    seen_by_staff = await gql(
        api,
        "query($id: ID!) { client(id: $id) { files(first: 1) { title } } }",
        {"id": gid("Client", client.id)},
        token=staff,
    )

    assert mine["data"]["me"]["files"] == [{"id": gid("ClientFile", shared)}]
    assert seen_by_staff["data"]["client"]["files"] == [{"title": "Staff notes"}]
