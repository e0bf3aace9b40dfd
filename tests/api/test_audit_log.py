"""The audit log query (SPEC 10.3): staff changes to clients, newest first, per client or
all, paged through the shared Relay connection helpers."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from domain.auth.permissions import StaffRole
from tests.api.test_files import _client, _staff, upload
from tests.conftest import gid, gql, pk

AUDIT_LOG = """
query($clientId: ID, $first: Int, $after: String, $last: Int, $before: String) {
  auditLog(clientId: $clientId, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id at staff action clientId changes } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def audit_page(api: httpx.AsyncClient, token: str, **variables: Any) -> dict[str, Any]:
    body = await gql(api, AUDIT_LOG, variables, token=token)
    page: dict[str, Any] = body["data"]["auditLog"]
    return page


def actions(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["action"] for edge in page["edges"]]


async def test_10_3_the_audit_log_pages_a_clients_staff_changes_newest_first(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, _ = await _client(conn, "joe@example.com")
    other_id, _ = await _client(conn, "ann@example.com")
    token = await _staff(conn, StaffRole.BILLING, "billing@staff.example.com")
    client = gid("Client", client_id)
    await gql(
        api,
        'mutation($id: ID!) { updateClient(id: $id, input: {notes: "VIP"}) { errors { code } } }',
        {"id": client},
        token=token,
    )
    await gql(
        api,
        'mutation($id: ID!) { addCredit(clientId: $id, amount: "5.00", description: "Sorry") '
        "{ errors { code } } }",
        {"id": client},
        token=token,
    )
    file = await upload(api, token, client_id, "terms.pdf", b"terms")
    await gql(
        api,
        "mutation($id: ID!) { deleteClientFile(id: $id) { ok } }",
        {"id": file["id"]},
        token=token,
    )
    await upload(api, token, other_id, "ann.pdf", b"ann")

    first = await audit_page(api, token, clientId=client, first=2)
    second = await audit_page(
        api, token, clientId=client, first=2, after=first["pageInfo"]["endCursor"]
    )
    back = await audit_page(
        api, token, clientId=client, last=2, before=second["pageInfo"]["startCursor"]
    )
    everyone = await audit_page(api, token)

    assert actions(first) == ["file.deleted", "file.uploaded"]
    assert actions(second) == ["credit.added", "client.updated"]
    # client.added came from the domain with no staff member: it is last, on a third page.
    assert second["pageInfo"]["hasNextPage"] and second["pageInfo"]["hasPreviousPage"]
    assert back["edges"] == first["edges"]
    newest = first["edges"][0]["node"]
    assert (newest["staff"], newest["clientId"]) == ("Sam Staff", client)
    assert newest["changes"] == {
        "file_id": pk(file["id"], "ClientFile"),
        "title": "Contract",
        "filename": "terms.pdf",
    }
    assert second["edges"][1]["node"]["changes"] == {"notes": {"from": None, "to": "VIP"}}
    assert actions(everyone)[:2] == ["file.uploaded", "file.deleted"]
    assert {e["node"]["clientId"] for e in everyone["edges"]} == {client, gid("Client", other_id)}


async def test_10_3_an_id_of_no_client_has_an_empty_audit_log(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await _staff(conn, StaffRole.ADMIN, "admin@staff.example.com")

    page = await audit_page(api, token, clientId=gid("Contact", 1))

    assert page["edges"] == [] and page["pageInfo"]["hasNextPage"] is False
