"""SPEC 15.1 and 15.2 through the API: departments, staff statuses and internal notes, the
client area's replies and closing, the acknowledgement email, and who opens tickets by
email. (Statuses and the dashboard in the domain: tests/domain/test_ticket_statuses.py.)"""

from __future__ import annotations

import logging

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from tests.api.inbound import AUTHENTICATED, post_email
from tests.api.test_tickets import (
    HOLDER,
    MY_TICKETS,
    OPEN_TICKET,
    TTL,
    Desk,
    add_client,
    add_contact,
    payload,
    staff_session,
)
from tests.conftest import gid, gql, pk

ERRORS = "errors { field code message }"
SAVE_DEPARTMENT = f"""
mutation($input: TicketDepartmentInput!) {{
  saveTicketDepartment(input: $input) {{ department {{ id name email }} {ERRORS} }}
}}"""
DEPARTMENTS = "{ ticketDepartments { id name email } }"
OPEN_IN = f"""
mutation($subject: String!, $message: String!, $departmentId: ID) {{
  openTicket(subject: $subject, message: $message, departmentId: $departmentId) {{
    ticket {{ id reference status department {{ name }} }} {ERRORS}
  }}
}}"""
REPLY = f"""
mutation($ticketId: ID!, $message: String!, $internal: Boolean) {{
  replyToTicket(ticketId: $ticketId, message: $message, internal: $internal) {{
    ticket {{ id status }} {ERRORS}
  }}
}}"""
SET_STATUS = f"""
mutation($id: ID!, $status: TicketStatus!) {{
  setTicketStatus(id: $id, status: $status) {{ ticket {{ id status }} {ERRORS} }}
}}"""
REPLY_MINE = f"""
mutation($ticketId: ID!, $message: String!) {{
  replyToMyTicket(ticketId: $ticketId, message: $message) {{ ticket {{ id status }} {ERRORS} }}
}}"""
CLOSE_MINE = (
    f"mutation($id: ID!) {{ closeMyTicket(id: $id) {{ ticket {{ id status }} {ERRORS} }} }}"
)
STAFF_TICKET = """query($id: ID!) { node(id: $id) { ... on Ticket {
  status messages { id body internal } } } }"""
LIST = """query($departmentId: ID, $status: [TicketStatus!]) {
  tickets(departmentId: $departmentId, status: $status) { totalCount edges { node { id } } }
}"""
EXPORT_MINE = "mutation { exportMyData { document } }"


async def save_department(
    api: httpx.AsyncClient, token: str, name: str, email: str, id: str | None = None
) -> dict[str, object]:
    department = {"name": name, "email": email, **({} if id is None else {"id": id})}
    return await payload(api, SAVE_DEPARTMENT, token, input=department)


async def open_mine(api: httpx.AsyncClient, token: str, **variables: object) -> str:
    opened = await payload(api, OPEN_IN, token, subject="Help", message="Hi", **variables)
    assert opened["errors"] == [], opened
    return opened["ticket"]["id"]  # type: ignore[no-any-return]


# --- departments ----------------------------------------------------------------------------


async def test_15_1_staff_keep_departments_with_unique_names_and_valid_addresses(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    admin = await staff_session(conn, StaffRole.ADMIN)
    sales = await save_department(api, admin, " Sales ", "Sales@Example.COM")
    assert sales["errors"] == []
    department = sales["department"]
    assert isinstance(department, dict)
    assert (department["name"], department["email"]) == ("Sales", "sales@example.com")

    refused = [
        await save_department(api, admin, "sales", "other@example.com"),
        await save_department(api, admin, "", "x@example.com"),
        await save_department(api, admin, "Billing", "not an address"),
        await save_department(api, admin, "Billing", "b@example.com", id=gid("Client", 1)),
    ]
    renamed = await save_department(
        api, admin, "Sales and Billing", "sales@example.com", id=str(department["id"])
    )

    assert [[(e["field"], e["code"]) for e in r["errors"]] for r in refused] == [  # type: ignore[attr-defined]
        [("name", "CONFLICT")],
        [("name", "REQUIRED")],
        [("email", "INVALID")],
        [("id", "NOT_FOUND")],
    ]
    assert renamed["errors"] == []
    listed = (await gql(api, DEPARTMENTS, token=desk.holder_token))["data"]["ticketDepartments"]
    assert listed == [
        {"id": department["id"], "name": "Sales and Billing", "email": "sales@example.com"}
    ]
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'ticket_department.%'"
        )
        == 2
    )


async def test_15_1_a_ticket_opened_in_a_department_is_listed_under_it_and_emailed_from_its_address(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    admin = await staff_session(conn, StaffRole.ADMIN)
    sales = (await save_department(api, admin, "Sales", "sales@example.com"))["department"]
    assert isinstance(sales, dict)
    in_sales = await open_mine(api, desk.holder_token, departmentId=sales["id"])
    elsewhere = await open_mine(api, desk.holder_token)
    unknown = await payload(
        api,
        OPEN_IN,
        desk.holder_token,
        subject="Help",
        message="Hi",
        departmentId=gid("TicketDepartment", 999),
    )
    await payload(api, REPLY, desk.staff_token, ticketId=in_sales, message="On it.")
    await payload(api, REPLY, desk.staff_token, ticketId=elsewhere, message="On it.")

    listed = await gql(api, LIST, {"departmentId": sales["id"]}, token=desk.staff_token)
    nothing = await gql(
        api, LIST, {"departmentId": gid("Client", desk.client_id)}, token=desk.staff_token
    )
    senders = await conn.fetch(
        "SELECT template, from_address, context->'ticket'->>'number' AS number FROM emails "
        "WHERE template LIKE 'support_ticket_%' ORDER BY id"
    )

    assert [e["node"]["id"] for e in listed["data"]["tickets"]["edges"]] == [in_sales]
    assert nothing["data"]["tickets"]["totalCount"] == 0
    assert [(e["field"], e["code"]) for e in unknown["errors"]] == [("departmentId", "NOT_FOUND")]
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 2
    number = str(pk(in_sales, "Ticket"))
    assert [(s["template"], s["from_address"]) for s in senders if s["number"] == number] == [
        ("support_ticket_opened", "Sales <sales@example.com>"),
        ("support_ticket_reply", "Sales <sales@example.com>"),
    ]
    assert {s["from_address"] for s in senders if s["number"] != number} == {None}


# --- statuses and internal notes --------------------------------------------------------------


async def test_15_1_staff_set_any_status_and_an_unknown_ticket_is_not_found(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    ticket_id = await open_mine(api, desk.holder_token)

    shown = [
        (await payload(api, SET_STATUS, desk.staff_token, id=ticket_id, status=s))["ticket"]
        for s in ("ON_HOLD", "CLOSED", "OPEN")
    ]
    missing = await payload(
        api, SET_STATUS, desk.staff_token, id=gid("Ticket", 999), status="CLOSED"
    )

    assert [t["status"] for t in shown] == ["ON_HOLD", "CLOSED", "OPEN"]  # type: ignore[index]
    assert [(e["field"], e["code"]) for e in missing["errors"]] == [("id", "NOT_FOUND")]
    assert await conn.fetchval("SELECT status FROM tickets") == "OPEN"


async def test_15_1_internal_notes_stay_with_staff(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    """Never in the client area's messages (nor through `node`), never emailed, never in
    exportMyData; staff read them, flagged."""
    ticket_id = await open_mine(api, desk.holder_token)
    emails_before = await conn.fetchval("SELECT count(*) FROM emails")
    last_event = await conn.fetchval("SELECT max(id) FROM events")

    noted = await payload(
        api, REPLY, desk.staff_token, ticketId=ticket_id, message="Owes us.", internal=True
    )

    assert noted["errors"] == [] and noted["ticket"]["status"] == "OPEN"
    note_id = gid(
        "TicketMessage", await conn.fetchval("SELECT id FROM ticket_messages WHERE internal")
    )
    staff_view = await gql(api, STAFF_TICKET, {"id": ticket_id}, token=desk.staff_token)
    assert [(m["body"], m["internal"]) for m in staff_view["data"]["node"]["messages"]] == [
        ("Hi", False),
        ("Owes us.", True),
    ]
    [mine] = (await gql(api, MY_TICKETS, token=desk.holder_token))["data"]["me"]["tickets"]
    assert [m["body"] for m in mine["messages"]] == ["Hi"]
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await gql(api, node, {"id": note_id}, token=desk.holder_token))["data"] == {
        "node": None
    }
    assert (await gql(api, node, {"id": note_id}, token=desk.staff_token))["data"] == {
        "node": {"id": note_id}
    }
    assert await conn.fetchval("SELECT count(*) FROM emails") == emails_before
    exported = (await gql(api, EXPORT_MINE, token=desk.holder_token))["data"]["exportMyData"]
    assert "Owes us." not in str(exported["document"])
    # Its one event (the ticket's row is untouched) is for staff alone.
    noted_events = await conn.fetch(
        "SELECT topic, staff_only FROM events WHERE id > $1 AND topic = 'TICKET'", last_event
    )
    assert [(e["topic"], e["staff_only"]) for e in noted_events] == [("TICKET", True)]


# --- the client area ------------------------------------------------------------------------


async def test_15_1_the_client_area_replies_to_closes_and_reopens_its_own_tickets(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    ticket_id = await open_mine(api, desk.holder_token)
    await payload(api, REPLY, desk.staff_token, ticketId=ticket_id, message="Try again.")
    sub_id = await add_contact(
        conn,
        desk.client_id,
        "sub@example.com",
        login=True,
        permissions=(ContactPermission.TICKETS,),
    )
    sub_login = await conn.fetchval("SELECT login_id FROM contacts WHERE id = $1", sub_id)
    sub_token = await sessions.start_session(conn, sub_login, ttl=TTL)

    replied = await payload(api, REPLY_MINE, desk.holder_token, ticketId=ticket_id, message="No.")
    closed = await payload(api, CLOSE_MINE, desk.holder_token, id=ticket_id)
    reopened = await payload(api, REPLY_MINE, sub_token, ticketId=ticket_id, message="Still no.")

    assert [r["ticket"]["status"] for r in (replied, closed, reopened)] == [
        "CUSTOMER_REPLY",
        "CLOSED",
        "CUSTOMER_REPLY",
    ]
    [mine] = (await gql(api, MY_TICKETS, token=desk.holder_token))["data"]["me"]["tickets"]
    assert [(m["from"], m["body"]) for m in mine["messages"]] == [
        (f"Joe Bloggs <{HOLDER}>", "Hi"),
        ("Sam Staff", "Try again."),
        (f"Joe Bloggs <{HOLDER}>", "No."),
        ("Jane Support <sub@example.com>", "Still no."),
    ]


async def test_15_1_another_clients_ticket_is_not_found_and_stays_as_it_was(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    ticket_id = await open_mine(api, desk.holder_token)
    other = await add_client(conn, "other@example.com")
    other_token = await sessions.start_session(conn, other.owner_login_id, ttl=TTL)
    before = await conn.fetchrow("SELECT status, updated_at FROM tickets")

    replied = await payload(api, REPLY_MINE, other_token, ticketId=ticket_id, message="Mine!")
    closed = await payload(api, CLOSE_MINE, other_token, id=ticket_id)
    bad_reply = await payload(api, REPLY_MINE, desk.holder_token, ticketId=ticket_id, message=" ")

    assert [(e["field"], e["code"]) for e in replied["errors"]] == [("ticketId", "NOT_FOUND")]
    assert [(e["field"], e["code"]) for e in closed["errors"]] == [("id", "NOT_FOUND")]
    assert [(e["field"], e["code"]) for e in bad_reply["errors"]] == [("message", "REQUIRED")]
    assert await conn.fetchrow("SELECT status, updated_at FROM tickets") == before
    assert await conn.fetchval("SELECT count(*) FROM ticket_messages") == 1


async def test_15_1_opening_a_ticket_emails_the_opener_its_reference(
    api: httpx.AsyncClient, inbound_api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    in_area = await payload(api, OPEN_TICKET, desk.holder_token, subject="Area", message="Hi")
    by_email = await post_email(inbound_api, HOLDER, "By email", "Hi", authentication=AUTHENTICATED)

    acknowledged = await conn.fetch(
        "SELECT to_address, context FROM emails WHERE template = 'support_ticket_opened' "
        "ORDER BY id"
    )
    assert [(a["to_address"], a["context"]["ticket"]["reference"]) for a in acknowledged] == [
        (HOLDER, in_area["ticket"]["reference"]),
        (HOLDER, by_email.json()["reference"]),
    ]
    assert acknowledged[0]["context"]["ticket"]["id"] == in_area["ticket"]["id"]


# --- inbound email (SPEC 15.2) --------------------------------------------------------------


async def test_15_2_a_contact_without_the_support_tick_cannot_open_a_ticket_by_email(
    inbound_api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    desk: Desk,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_contact(conn, desk.client_id, "plain@example.com", preferences=("INVOICE",))
    with caplog.at_level(logging.INFO, logger="clientdesk.inbound"):
        refused = await post_email(
            inbound_api, "plain@example.com", "Help", "Hi", authentication=AUTHENTICATED
        )
    allowed = await post_email(
        inbound_api, "support-contact@example.com", "Help", "Hi", authentication=AUTHENTICATED
    )

    assert refused.status_code == 422, refused.text
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("from", "FORBIDDEN")]
    assert allowed.status_code == 201, allowed.text
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 1
    assert "inbound email refused: from: FORBIDDEN" in caplog.text


async def test_15_2_an_emailed_reply_to_another_clients_ticket_is_refused(
    inbound_api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    await add_client(conn, "other@example.com")
    theirs = await post_email(inbound_api, "other@example.com", "Theirs", "x")

    refused = await post_email(
        inbound_api, HOLDER, f"Re: {theirs.json()['reference']} Theirs", "Let me in"
    )

    assert refused.status_code == 422, refused.text
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("subject", "FORBIDDEN")]
    assert await conn.fetchval("SELECT count(*) FROM ticket_messages") == 1
