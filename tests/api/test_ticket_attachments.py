"""SPEC 15.1: files on ticket messages, uploaded as client files are (GraphQL multipart, the
same store and limits), listed as `TicketMessage.attachments` and downloaded at
`GET /ticket-attachments/{id}` by whoever reads the ticket; an internal note's by staff only."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx

from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from domain.files.moving import files_to_move
from domain.tickets.attachments import MAX_ATTACHMENTS
from tests.api.test_files import CSRF, stored_files
from tests.api.test_merge_delete import DELETE
from tests.api.test_ticket_conversations import ERRORS
from tests.api.test_tickets import TTL, Desk, add_client, add_contact, staff_session
from tests.conftest import gid, gql

ATTACHMENTS = "attachments { id name size contentType url }"
OPEN = f"""
mutation($subject: String!, $message: String!, $attachments: [Upload!]) {{
  openTicket(subject: $subject, message: $message, attachments: $attachments) {{
    ticket {{ id messages {{ {ATTACHMENTS} }} }} {ERRORS}
  }}
}}"""
REPLY = f"""
mutation($ticketId: ID!, $message: String!, $internal: Boolean, $attachments: [Upload!]) {{
  replyToTicket(ticketId: $ticketId, message: $message, internal: $internal,
                attachments: $attachments) {{
    ticket {{ id messages {{ internal {ATTACHMENTS} }} }} {ERRORS}
  }}
}}"""
REPLY_MINE = f"""
mutation($ticketId: ID!, $message: String!, $attachments: [Upload!]) {{
  replyToMyTicket(ticketId: $ticketId, message: $message, attachments: $attachments) {{
    ticket {{ id messages {{ {ATTACHMENTS} }} }} {ERRORS}
  }}
}}"""
# A page of tickets: their messages' files multiply the query's cost (MAX_QUERY_COST).
MY_ATTACHMENTS = f"query {{ me {{ tickets(first: 10) {{ messages {{ {ATTACHMENTS} }} }} }} }}"


async def send(
    api: httpx.AsyncClient,
    token: str,
    query: str,
    files: list[tuple[str, bytes, str]],
    **variables: Any,
) -> dict[str, Any]:
    """A GraphQL multipart request carrying `files` as `attachments` (none: a JSON one);
    its one payload."""
    if not files:
        body = await gql(api, query, variables, token=token)
        [payload] = body["data"].values()
        return payload  # type: ignore[no-any-return]
    operations = {"query": query, "variables": {**variables, "attachments": [None] * len(files)}}
    response = await api.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({str(n): [f"variables.attachments.{n}"] for n in range(len(files))}),
        },
        files={str(n): file for n, file in enumerate(files)},
        headers={"Authorization": f"Bearer {token}", **CSRF},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    [payload] = body["data"].values()
    return payload  # type: ignore[no-any-return]


async def download(api: httpx.AsyncClient, url: str, token: str | None) -> httpx.Response:
    return await api.get(url, headers={"Authorization": f"Bearer {token}"} if token else {})


async def test_15_1_messages_carry_files_that_whoever_reads_the_ticket_downloads(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    opened = await send(
        api,
        desk.holder_token,
        OPEN,
        [("error.log", b"line 1\n", "text/plain"), ("shot.png", b"\x89PNG", "image/png")],
        subject="Help",
        message="See the files.",
    )
    assert opened["errors"] == [], opened
    ticket_id = opened["ticket"]["id"]
    [first] = opened["ticket"]["messages"]
    assert [(a["name"], a["size"], a["contentType"]) for a in first["attachments"]] == [
        ("error.log", 7, "text/plain"),
        ("shot.png", 4, "image/png"),
    ]
    replied = await send(
        api,
        desk.staff_token,
        REPLY,
        [("fix.txt", b"done", "text/plain")],
        ticketId=ticket_id,
        message="Fixed, see the file.",
    )
    answered = await send(
        api,
        desk.holder_token,
        REPLY_MINE,
        [("thanks.txt", b"ok", "text/plain")],
        ticketId=ticket_id,
        message="Thanks.",
    )
    assert replied["errors"] == [] and answered["errors"] == []

    sub_login = await conn.fetchval(
        "SELECT login_id FROM contacts WHERE id = $1",
        await add_contact(
            conn,
            desk.client_id,
            "sub@example.com",
            login=True,
            permissions=(ContactPermission.TICKETS,),
        ),
    )
    bare_login = await conn.fetchval(
        "SELECT login_id FROM contacts WHERE id = $1",
        await add_contact(conn, desk.client_id, "bare@example.com", login=True),
    )
    other = await add_client(conn, "other@example.com")
    viewers = {
        "staff": desk.staff_token,
        "holder": desk.holder_token,
        "sub_account_with_tickets": await sessions.start_session(conn, sub_login, ttl=TTL),
        "sub_account_without": await sessions.start_session(conn, bare_login, ttl=TTL),
        "other_client": await sessions.start_session(conn, other.owner_login_id, ttl=TTL),
        "anonymous": None,
    }
    url = first["attachments"][0]["url"]
    statuses = {
        name: (await download(api, url, token)).status_code for name, token in viewers.items()
    }

    assert statuses == {
        "staff": 200,
        "holder": 200,
        "sub_account_with_tickets": 200,
        "sub_account_without": 404,
        "other_client": 404,
        "anonymous": 401,
    }
    got = await download(api, url, desk.holder_token)
    assert got.content == b"line 1\n"
    assert got.headers["content-disposition"].startswith('attachment; filename="error.log"')
    [mine] = (await gql(api, MY_ATTACHMENTS, token=desk.holder_token))["data"]["me"]["tickets"]
    assert [[a["name"] for a in m["attachments"]] for m in mine["messages"]] == [
        ["error.log", "shot.png"],
        ["fix.txt"],
        ["thanks.txt"],
    ]
    assert len(await stored_files(conn)) == 4


async def test_15_1_an_internal_notes_files_are_staff_only(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    opened = await send(api, desk.holder_token, OPEN, [], subject="Help", message="Hi")
    ticket_id = opened["ticket"]["id"]

    noted = await send(
        api,
        desk.staff_token,
        REPLY,
        [("notes.txt", b"secret", "text/plain")],
        ticketId=ticket_id,
        message="Internal.",
        internal=True,
    )

    [note] = [m for m in noted["ticket"]["messages"] if m["internal"]]
    [file] = note["attachments"]
    assert (await download(api, file["url"], desk.staff_token)).content == b"secret"
    assert (await download(api, file["url"], desk.holder_token)).status_code == 404
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await gql(api, node, {"id": file["id"]}, token=desk.holder_token))["data"] == {
        "node": None
    }
    [mine] = (await gql(api, MY_ATTACHMENTS, token=desk.holder_token))["data"]["me"]["tickets"]
    assert [m["attachments"] for m in mine["messages"]] == [[]]


async def test_15_1_too_many_files_or_a_refused_message_store_nothing(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    before = await stored_files(conn)
    files = [(f"{n}.txt", b"x", "text/plain") for n in range(MAX_ATTACHMENTS + 1)]

    too_many = await send(api, desk.holder_token, OPEN, files, subject="Help", message="Hi")
    no_message = await send(api, desk.holder_token, OPEN, files[:1], subject="Help", message=" ")
    json_file = await gql(
        api,
        OPEN,
        {"subject": "Help", "message": "Hi", "attachments": ["/etc/hosts"]},
        token=desk.holder_token,
    )

    assert [(e["field"], e["code"]) for e in too_many["errors"]] == [("attachments", "INVALID")]
    assert [(e["field"], e["code"]) for e in no_message["errors"]] == [("message", "REQUIRED")]
    refused = json_file["data"]["openTicket"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("attachments.0", "REQUIRED")]
    assert await stored_files(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 0


async def test_15_1_a_deleted_clients_ticket_files_go_and_a_store_move_takes_them_along(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    other = await add_client(conn, "other@example.com")
    other_token = await sessions.start_session(conn, other.owner_login_id, ttl=TTL)
    for token in (desk.holder_token, other_token):
        opened = await send(
            api, token, OPEN, [("a.txt", b"a", "text/plain")], subject="Help", message="Hi"
        )
        assert opened["errors"] == []
    kept = await conn.fetchval(
        """SELECT a.stored_name FROM ticket_attachments a JOIN ticket_messages m
             ON m.id = a.message_id JOIN tickets t ON t.id = m.ticket_id
            WHERE t.client_id = $1""",
        other.id,
    )
    admin = await staff_session(conn, StaffRole.ADMIN)

    deleted = await gql(api, DELETE, {"id": gid("Client", desk.client_id)}, token=admin)

    assert deleted["data"]["deleteClient"] == {"ok": True, "errors": []}
    assert list(await stored_files(conn)) == [kept]
    assert await files_to_move(conn) == [kept]
