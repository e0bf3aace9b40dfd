"""SPEC 7.1, 7.2 and the personal-data export through the API: ids, redirects, errors."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.billing import orders
from domain.billing.models import ItemKind
from domain.clients.models import Client
from tests.api.test_files import stored_files, upload
from tests.conftest import add_client, gid, gql, pay_by_transfer

TTL = timedelta(hours=1)
ERRORS = "errors { field code message }"
MERGE = f"""
mutation Merge($first: ID!, $second: ID!, $keep: MergeKeep!) {{
  mergeClients(firstId: $first, secondId: $second, keep: $keep) {{
    client {{ id email creditBalance mergedFrom }} {ERRORS}
  }}
}}"""
CLIENT = "query Client($id: ID!) { client(id: $id) { id email mergedFrom } }"
DELETE = f"mutation Delete($id: ID!) {{ deleteClient(id: $id) {{ ok {ERRORS} }} }}"
TRANSACTIONS = """
query Transactions($clientId: ID) {
  transactions(clientId: $clientId) {
    edges { node { clientId clientName clientCompanyName amount } }
  }
}"""
EXPORT = "query Export($id: ID!) { exportClientData(id: $id) { document generatedAt } }"
EXPORT_MINE = "mutation { exportMyData { document generatedAt } }"


async def add(conn: asyncpg.Connection, tag: str, **values: str) -> Client:
    return await add_client(conn, first_name=tag.title(), email=f"{tag}@example.com", **values)


@pytest.fixture
async def admin(conn: asyncpg.Connection) -> str:
    """An administrator's session, opened directly (no password is hashed)."""
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('admin@staff.example.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'A', 'D', 'ADMIN')",
        login_id,
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def test_7_1_merge_leaves_a_redirect_and_lists_merged_ids(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str
) -> None:
    kept = await add(conn, "kept")
    other = await add(conn, "other")
    other_session = await sessions.start_session(conn, other.owner_login_id, ttl=TTL)

    body = await gql(
        api,
        MERGE,
        {"first": gid("Client", kept.id), "second": gid("Client", other.id), "keep": "FIRST"},
        token=admin,
    )

    payload = body["data"]["mergeClients"]
    assert payload["errors"] == []
    assert payload["client"]["mergedFrom"] == [gid("Client", other.id)]
    redirected = await gql(api, CLIENT, {"id": gid("Client", other.id)}, token=admin)
    assert redirected["data"]["client"] == {
        "id": gid("Client", kept.id),
        "email": "kept@example.com",
        "mergedFrom": [gid("Client", other.id)],
    }
    # The removed client's login no longer opens anything.
    me = await gql(api, "query { me { id } }", token=other_session, allow_errors=True)
    assert me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_7_1_merge_refusals_are_reported_per_argument(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str
) -> None:
    client = await add(conn, "only")
    same = {"first": gid("Client", client.id), "second": gid("Client", client.id), "keep": "FIRST"}
    unknown = {"first": gid("Client", 999), "second": "not-an-id", "keep": "SECOND"}
    refusals = []
    for variables in (same, unknown):
        body = await gql(api, MERGE, variables, token=admin)
        assert body["data"]["mergeClients"]["client"] is None
        refusals.append([(e["field"], e["code"]) for e in body["data"]["mergeClients"]["errors"]])
    assert refusals == [
        [("secondId", "INVALID")],
        [("secondId", "NOT_FOUND")],  # an id not of a client is refused before any lookup
    ]
    body = await gql(
        api,
        MERGE,
        {"first": gid("Client", 999), "second": gid("Client", client.id), "keep": "SECOND"},
        token=admin,
    )
    assert [(e["field"], e["code"]) for e in body["data"]["mergeClients"]["errors"]] == [
        ("firstId", "NOT_FOUND")
    ]


async def test_7_2_deleted_clients_transactions_stay_listed_with_who_it_was(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str
) -> None:
    client = await add(conn, "gone", company_name="Gone Ltd")
    order = await orders.place_order(
        conn,
        client.id,
        items=[{"kind": ItemKind.SERVICE, "name": "Hosting", "amount": "10.00"}],
        payment_method=None,
        staff_id=None,
    )
    assert order.invoice_id is not None
    await pay_by_transfer(conn, order.invoice_id, "10.00")

    body = await gql(api, DELETE, {"id": gid("Client", client.id)}, token=admin)

    assert body["data"]["deleteClient"] == {"ok": True, "errors": []}
    expected = {
        "clientId": gid("Client", client.id),
        "clientName": "Gone Bloggs",
        "clientCompanyName": "Gone Ltd",
        "amount": "10.00",
    }
    for variables in ({"clientId": gid("Client", client.id)}, {}):
        listed = await gql(api, TRANSACTIONS, variables, token=admin)
        assert [e["node"] for e in listed["data"]["transactions"]["edges"]] == [expected]
    assert (await gql(api, CLIENT, {"id": gid("Client", client.id)}, token=admin))["data"] == {
        "client": None
    }
    again = await gql(api, DELETE, {"id": gid("Client", client.id)}, token=admin)
    assert again["data"]["deleteClient"]["errors"][0]["code"] == "NOT_FOUND"


async def test_export_for_staff_and_for_the_account_holder(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str
) -> None:
    client = await add(conn, "subject")
    holder = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    await gql(
        api,
        'mutation($id: ID!) { updateClient(id: $id, input: {notes: "staff eyes only"}) '
        "{ errors { code } } }",
        {"id": gid("Client", client.id)},
        token=admin,
    )

    staff_export = await gql(api, EXPORT, {"id": gid("Client", client.id)}, token=admin)
    own_export = await gql(api, EXPORT_MINE, token=holder)

    for export in (staff_export["data"]["exportClientData"], own_export["data"]["exportMyData"]):
        assert export["document"]["profile"]["email"] == "subject@example.com"
        assert export["generatedAt"]
    # Staff notes stay staff-only: the holder's own export has neither them nor their history.
    assert staff_export["data"]["exportClientData"]["document"]["profile"]["notes"] == (
        "staff eyes only"
    )
    assert "staff eyes only" in str(staff_export)
    assert "staff eyes only" not in str(own_export)
    assert "notes" not in own_export["data"]["exportMyData"]["document"]["profile"]
    missing = await gql(api, EXPORT, {"id": gid("Client", 999)}, token=admin, allow_errors=True)
    assert [e["extensions"]["code"] for e in missing["errors"]] == ["NOT_FOUND"]


async def test_7_2_deleting_a_client_removes_its_files_bytes_after_the_commit(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str
) -> None:
    joe = await add(conn, "joe")
    await upload(api, admin, joe.id, "contract.pdf", b"%PDF-1.4 joe")
    assert list((await stored_files(conn)).values()) == [b"%PDF-1.4 joe"]

    body = await gql(api, DELETE, {"id": gid("Client", joe.id)}, token=admin)

    assert body["data"]["deleteClient"] == {"ok": True, "errors": []}
    assert await stored_files(conn) == {}
    assert await conn.fetchval("SELECT count(*) FROM client_files") == 0


async def test_6_1_the_account_holders_export_leaves_out_admin_only_files_and_their_history(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin: str
) -> None:
    client = await add(conn, "subject")
    holder = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    await upload(api, admin, client.id, "terms.pdf", b"t", title="Shared terms")
    await upload(api, admin, client.id, "secret.pdf", b"s", title="Secret plan", admin_only=True)
    # Shown once, then hidden; and two deleted files, one shown and one hidden at the time.
    hidden = await upload(api, admin, client.id, "later.pdf", b"l", title="Hidden later")
    gone = await upload(api, admin, client.id, "gone.pdf", b"g", title="Gone shared")
    gone_secret = await upload(
        api, admin, client.id, "gone-secret.pdf", b"x", title="Gone secret", admin_only=True
    )
    update = "mutation($id: ID!) { updateClientFile(id: $id, adminOnly: true) { errors { code } } }"
    await gql(api, update, {"id": hidden["id"]}, token=admin)
    delete = "mutation($id: ID!) { deleteClientFile(id: $id) { errors { code } } }"
    for file in (gone, gone_secret):
        await gql(api, delete, {"id": file["id"]}, token=admin)

    own = (await gql(api, EXPORT_MINE, token=holder))["data"]["exportMyData"]["document"]
    staff = await gql(api, EXPORT, {"id": gid("Client", client.id)}, token=admin)

    mine = await gql(api, "query { me { files { title } } }", token=holder)
    assert [f["title"] for f in own["files"]] == [f["title"] for f in mine["data"]["me"]["files"]]
    assert [f["title"] for f in own["files"]] == ["Shared terms"]
    file_entries = [e for e in own["auditEntries"] if e["action"].startswith("file.")]
    assert sorted((e["action"], e["changes"]["title"]) for e in file_entries) == [
        ("file.deleted", "Gone shared"),
        ("file.uploaded", "Gone shared"),
        ("file.uploaded", "Shared terms"),
    ]
    for withheld in ("Secret plan", "secret.pdf", "Hidden later", "later.pdf", "Gone secret"):
        assert withheld not in str(own)
        assert withheld in str(staff)
