"""SPEC 1.9: the product status filter of a staff session covers every client's services,
addons and domains; `viewer.productStatusFilter` shows the choice and
`clearProductStatusFilter` forgets it (issue 23, defect 4)."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from domain.auth import sessions
from domain.auth.permissions import StaffRole
from tests.api.test_billing import (
    SET_DOMAIN_STATUS,
    SET_SERVICE_STATUS,
    TTL,
    admin_token,
    place_as_admin,
)
from tests.api.test_credit import open_staff_session
from tests.conftest import add_client, gid, gql

LISTS = """query($id: ID!, $services: [ServiceStatus!], $domains: [DomainStatus!]) {
  viewer { productStatusFilter { services domains } }
  client(id: $id) {
    services(statuses: $services) { name } addons { name } domains(statuses: $domains) { name }
  } }"""
CLEAR = "mutation { clearProductStatusFilter { ok errors { code } } }"
FILTER = "{ viewer { productStatusFilter { services domains } } }"
EVERYTHING = {
    "services": [{"name": "Active"}, {"name": "Pending"}],
    "addons": [{"name": "Active addon"}, {"name": "Pending addon"}],
    "domains": [{"name": "active.com"}, {"name": "pending.com"}],
}
ACTIVE_ONLY = {
    "services": [{"name": "Active"}],
    "addons": [{"name": "Active addon"}],
    "domains": [{"name": "active.com"}],
}


async def client_with_products(api: httpx.AsyncClient, conn: asyncpg.Connection, email: str) -> int:
    """A client with an active and a pending service, addon and domain each."""
    client = await add_client(conn, email=email)
    placed = await place_as_admin(
        api,
        conn,
        client.id,
        ("SERVICE", "Active", "1"),
        ("SERVICE", "Pending", "1"),
        ("ADDON", "Active addon", "1"),
        ("ADDON", "Pending addon", "1"),
        ("DOMAIN", "active.com", "1"),
        ("DOMAIN", "pending.com", "1"),
    )
    token = await admin_token(conn)
    for item in placed["order"]["items"]:
        if item["name"].lower().startswith("active"):
            document = SET_DOMAIN_STATUS if item["kind"] == "DOMAIN" else SET_SERVICE_STATUS
            await gql(api, document, {"id": item["id"], "status": "ACTIVE"}, token=token)
    return client.id


async def lists(
    api: httpx.AsyncClient, token: str, client_pk: int, **statuses: list[str]
) -> tuple[Any, dict[str, Any]]:
    body = await gql(api, LISTS, {"id": gid("Client", client_pk), **statuses}, token=token)
    return body["data"]["viewer"]["productStatusFilter"], body["data"]["client"]


async def test_1_9_the_status_filter_covers_services_addons_and_domains_and_shows_the_choice(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    first = await client_with_products(api, conn, "first@example.com")
    second = await client_with_products(api, conn, "second@example.com")
    token = await open_staff_session(conn, StaffRole.SUPPORT, "support@staff.example.com")

    nothing_chosen = await lists(api, token, first)
    _, chosen = await lists(api, token, first, services=["ACTIVE"], domains=["ACTIVE"])
    # Remembered in a later request, for another client (the viewer's field of the request
    # that chose may be resolved before the lists are).
    remembered = await lists(api, token, second)

    assert nothing_chosen == ({"services": None, "domains": None}, EVERYTHING)
    assert chosen == ACTIVE_ONLY
    assert remembered == ({"services": ["ACTIVE"], "domains": ["ACTIVE"]}, ACTIVE_ONLY)


async def test_1_9_clear_product_status_filter_lists_every_status_again(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await client_with_products(api, conn, "first@example.com")
    token = await open_staff_session(conn, StaffRole.READ_ONLY, "ro@staff.example.com")
    await lists(api, token, client, services=["ACTIVE"], domains=["ACTIVE"])

    cleared = await gql(api, CLEAR, token=token)
    after = await lists(api, token, client)

    assert cleared["data"]["clearProductStatusFilter"] == {"ok": True, "errors": []}
    assert after == ({"services": None, "domains": None}, EVERYTHING)


async def test_1_9_the_client_area_has_no_product_status_filter(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn)
    token = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)

    body = await gql(api, FILTER, token=token)
    refused = await gql(api, CLEAR, token=token, allow_errors=True)

    assert body["data"]["viewer"] == {"productStatusFilter": None}
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
