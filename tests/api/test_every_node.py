"""SPEC 12 and the README ("any object with an id can be fetched again"): every type with an
id is a `Node`, and `node`/`nodes` return one of each of the world's rows (tests/world.py) to
exactly the viewers its own fields show it to. The types are read from the schema by
introspection, so a new type is walked as soon as it exists (and fails here until the world
has a row of it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import ContactPermission as Needs
from domain.auth.permissions import StaffPermission as Staff
from domain.auth.permissions import StaffRole
from tests.api.test_node import staff_token, sub_account_token
from tests.conftest import gid, gql
from tests.world import World

OK, NULL, FORBIDDEN = "OK", "NULL", "FORBIDDEN"
# Read by staff alone: their fields are staff's (`taxRules`, `auditLog`, `apiKeys`,
# `staffMember`, `staffRoles`; orders only come back from placeOrder and acceptOrder).
STAFF_ONLY = "STAFF_ONLY"
# Of no client: the catalogue and the ticket departments, read by every login (`products`,
# `productGroups`, `ticketDepartments`).
SHARED = "SHARED"
# What each Node type takes to read, as its own fields do: the staff permission, and the
# client-area permission reading the client's own ones (None: none).
ACCESS: dict[str, tuple[Staff, Needs | str | None]] = {
    "Client": (Staff.VIEW_CLIENTS, None),  # client, me
    "Contact": (Staff.VIEW_CLIENTS, Needs.CONTACTS),  # Client.contacts
    "Email": (Staff.VIEW_EMAILS, Needs.EMAILS),  # Client.emails
    "Ticket": (Staff.VIEW_CLIENTS, Needs.TICKETS),  # Client.tickets
    "TicketMessage": (Staff.VIEW_CLIENTS, Needs.TICKETS),  # Ticket.messages
    "TicketAttachment": (Staff.VIEW_CLIENTS, Needs.TICKETS),  # TicketMessage.attachments
    "Service": (Staff.VIEW_CLIENTS, Needs.PRODUCTS),  # Client.services, Client.addons
    "Domain": (Staff.VIEW_CLIENTS, Needs.DOMAINS),  # Client.domains
    "Invoice": (Staff.VIEW_CLIENTS, Needs.INVOICES),  # invoice, Client.invoices
    "Transaction": (Staff.VIEW_CLIENTS, Needs.INVOICES),  # Client.transactions
    "CreditEntry": (Staff.VIEW_CLIENTS, Needs.INVOICES),  # Client.creditLog
    "ClientFile": (Staff.VIEW_CLIENTS, Needs.PROFILE),  # Client.files
    "Quote": (Staff.VIEW_CLIENTS, Needs.QUOTES),  # Client.quotes
    "Product": (Staff.VIEW_CLIENTS, SHARED),  # products
    "ProductGroup": (Staff.VIEW_CLIENTS, SHARED),  # productGroups
    "TicketDepartment": (Staff.VIEW_CLIENTS, SHARED),  # ticketDepartments
    "CancellationRequest": (Staff.VIEW_CLIENTS, Needs.PRODUCTS),  # cancellationRequests
    "Order": (Staff.VIEW_CLIENTS, STAFF_ONLY),
    "TaxRule": (Staff.VIEW_CLIENTS, STAFF_ONLY),
    "AuditEntry": (Staff.VIEW_AUDIT_LOG, STAFF_ONLY),
    "ApiKey": (Staff.MANAGE_STAFF, STAFF_ONLY),
    "Staff": (Staff.MANAGE_STAFF, STAFF_ONLY),
    "StaffRole": (Staff.MANAGE_STAFF, STAFF_ONLY),
}
# The world's rows of each type, of its first client ($1) where they have a client.
SAMPLES = {
    "Client": "SELECT $1::bigint",
    "Contact": "SELECT id FROM contacts WHERE client_id = $1",
    "Email": "SELECT id FROM emails WHERE client_id = $1 AND sent_at IS NOT NULL",
    "Ticket": "SELECT id FROM tickets WHERE client_id = $1",
    "TicketMessage": """SELECT m.id FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id
                         WHERE t.client_id = $1""",
    "TicketAttachment": """SELECT a.id FROM ticket_attachments a
                            JOIN ticket_messages m ON m.id = a.message_id
                            JOIN tickets t ON t.id = m.ticket_id WHERE t.client_id = $1""",
    "Service": """SELECT id FROM services WHERE client_id = $1
                  UNION ALL SELECT id FROM addons WHERE client_id = $1""",
    "Domain": "SELECT id FROM domains WHERE client_id = $1",
    "Invoice": "SELECT id FROM invoices WHERE client_id = $1",
    "Transaction": "SELECT id FROM transactions WHERE client_id = $1",
    "CreditEntry": "SELECT id FROM credit_log WHERE client_id = $1",
    "ClientFile": "SELECT id FROM client_files WHERE client_id = $1 AND NOT admin_only",
    "Quote": "SELECT id FROM quotes WHERE client_id = $1 AND status <> 'DRAFT'",
    "Product": "SELECT id FROM products WHERE NOT hidden AND $1 > 0",
    "ProductGroup": "SELECT id FROM product_groups WHERE $1 > 0",
    "TicketDepartment": "SELECT id FROM ticket_departments WHERE $1 > 0",
    "CancellationRequest": """SELECT r.id FROM cancellation_requests r
                              JOIN services s ON s.id = r.service_id WHERE s.client_id = $1""",
    "Order": "SELECT id FROM orders WHERE client_id = $1",
    "TaxRule": "SELECT id FROM tax_rules WHERE $1 > 0",
    "AuditEntry": "SELECT id FROM audit_log WHERE client_id = $1",
    "ApiKey": "SELECT id FROM api_keys WHERE $1 > 0",
    "Staff": "SELECT id FROM staff WHERE $1 > 0",
    "StaffRole": "SELECT id FROM staff_roles WHERE $1 > 0",
}
# Types whose `id` names no object of their own: an event's is its position in the event
# stream (what to give as `after`), an order item's the id of its Service or Domain.
NOT_OBJECTS = {"Event", "ClientEvent", "InvoiceEvent", "TicketEvent", "EmailEvent"}
NOT_OBJECTS |= {"AutomationRunEvent", "OrderItem"}
VIEWERS = ["admin", "read_only_staff", "owner", "other_client", "bare_sub_account"]
NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
TTL = timedelta(hours=1)


async def introspected(api: httpx.AsyncClient, token: str) -> dict[str, Any]:
    body = await gql(
        api,
        """{ __schema { types { name kind fields { name type { ofType { name } } } } }
             __type(name: "Node") { possibleTypes { name } } }""",
        token=token,
    )
    return body["data"]  # type: ignore[no-any-return]


async def tokens(conn: asyncpg.Connection, world: World) -> dict[str, str]:
    other_owner = await conn.fetchval(
        "SELECT owner_login_id FROM clients WHERE id = $1", world.other_client_id
    )
    return {
        "admin": await sessions.start_session(conn, world.login_ids["staff"], ttl=TTL),
        "read_only_staff": await staff_token(conn, StaffRole.READ_ONLY),
        "owner": await sessions.start_session(conn, world.login_ids["client"], ttl=TTL),
        "other_client": await sessions.start_session(conn, other_owner, ttl=TTL),
        "bare_sub_account": await sub_account_token(
            conn, world.client_id, "bare@example.com", set()
        ),
    }


def expected(type_name: str, viewer: str) -> str:
    """What `viewer` gets for one of the world's first client's objects of `type_name`."""
    staff, client_area = ACCESS[type_name]
    if viewer == "admin":
        return OK
    if viewer == "read_only_staff":
        return OK if staff is Staff.VIEW_CLIENTS else FORBIDDEN
    if client_area == STAFF_ONLY:
        return FORBIDDEN
    if client_area == SHARED:
        return OK
    if viewer == "owner":
        return OK
    if viewer == "other_client":
        return NULL
    return OK if client_area is None else FORBIDDEN


def outcome(value: Any, errors: list[dict[str, Any]]) -> Any:
    if errors:
        [error] = errors
        assert value is None, (value, errors)
        return error["extensions"]["code"]
    return NULL if value is None else (OK, value)


async def test_every_type_with_an_id_is_a_node(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    schema = await introspected(api, (await tokens(conn, world))["admin"])

    with_ids = {
        kind["name"]
        for kind in schema["__schema"]["types"]
        if kind["kind"] in ("OBJECT", "INTERFACE") and not kind["name"].startswith("__")
        for field in kind["fields"] or []
        if field["name"] == "id" and (field["type"]["ofType"] or {}).get("name") == "ID"
    }
    nodes = {kind["name"] for kind in schema["__type"]["possibleTypes"]}

    assert with_ids - NOT_OBJECTS - {"Node"} == nodes
    assert set(ACCESS) == set(SAMPLES) == nodes


async def test_node_and_nodes_fetch_one_of_each_node_type_as_far_as_the_viewer_may_read_it(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    viewers = await tokens(conn, world)
    schema = await introspected(api, viewers["admin"])
    samples: list[tuple[str, str]] = []  # (type, id)
    for type_name in sorted(kind["name"] for kind in schema["__type"]["possibleTypes"]):
        assert type_name in SAMPLES, f"tests/world.py and SAMPLES need a {type_name}"
        rows = await conn.fetch(SAMPLES[type_name], world.client_id)
        assert rows, f"the world has no {type_name}"
        samples += [(type_name, gid(type_name, row[0])) for row in rows]

    for viewer, token in viewers.items():
        wanted = [
            (OK, {"__typename": t, "id": i}) if expected(t, viewer) == OK else expected(t, viewer)
            for t, i in samples
        ]
        one_by_one = []
        for _, node_id in samples:
            body = await gql(api, NODE, {"id": node_id}, token=token, allow_errors=True)
            one_by_one.append(outcome(body["data"]["node"], body.get("errors", [])))
        body = await gql(
            api, NODES, {"ids": [i for _, i in samples]}, token=token, allow_errors=True
        )
        errors_at: dict[int, list[dict[str, Any]]] = {}
        for error in body.get("errors", []):
            errors_at.setdefault(error["path"][1], []).append(error)
        together = [outcome(v, errors_at.get(n, [])) for n, v in enumerate(body["data"]["nodes"])]

        assert dict(zip(samples, one_by_one, strict=True)) == dict(
            zip(samples, wanted, strict=True)
        ), viewer
        assert together == one_by_one, viewer


async def test_an_admin_only_file_is_a_node_for_staff_alone(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    viewers = await tokens(conn, world)
    file_id = gid(
        "ClientFile",
        await conn.fetchval(
            "SELECT id FROM client_files WHERE admin_only AND client_id = $1", world.client_id
        ),
    )

    seen = {
        viewer: (await gql(api, NODE, {"id": file_id}, token=viewers[viewer]))["data"]["node"]
        for viewer in ("admin", "owner")
    }

    assert seen == {"admin": {"__typename": "ClientFile", "id": file_id}, "owner": None}


@pytest.mark.parametrize("viewer", ["admin", "owner"])
async def test_7_1_a_merged_clients_old_id_leads_through_node_to_the_client_it_went_into(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World, viewer: str
) -> None:
    token = (await tokens(conn, world))[viewer]
    old_id = gid("Client", await conn.fetchval("SELECT merged_id FROM client_merges"))
    kept = {"__typename": "Client", "id": gid("Client", world.client_id)}

    node = await gql(api, NODE, {"id": old_id}, token=token)
    nodes = await gql(api, NODES, {"ids": [old_id, kept["id"]]}, token=token)

    assert node["data"]["node"] == kept
    assert nodes["data"]["nodes"] == [kept, kept]
    if viewer == "admin":
        client = await gql(
            api, "query($id: ID!) { client(id: $id) { id } }", {"id": old_id}, token=token
        )
        assert client["data"]["client"] == {"id": kept["id"]}
