"""SPEC 14.2 and 9.5 through GraphQL: clients ask to cancel their services and choose whether
their domains renew; the daily run carries cancellations out (at once or at the end of the
period, never invoicing a renewal after a request) and renews only auto-renewing domains."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import httpx

from domain.auth.permissions import StaffRole
from domain.automation import runs
from domain.billing import orders
from domain.billing.models import ItemKind
from domain.catalogue import cancellations
from domain.catalogue.models import CancellationType
from tests.api.test_catalogue import (
    ERRORS,
    RUN_TOOLS,
    accepted_hosting,
    catalogue,
    client_session,
)
from tests.api.test_credit import open_staff_session, payload_of
from tests.conftest import CLIENT_AREA_URL, gid, gql, pk

REQUEST_CANCELLATION = f"""
mutation Cancel($id: ID!, $type: CancellationType!) {{
  requestCancellation(serviceId: $id, type: $type, reason: "Moving elsewhere") {{
    request {{ id serviceId status type dueDate }} {ERRORS}
  }}
}}"""

AUTO_RENEW = f"""
mutation AutoRenew($id: ID!, $on: Boolean!) {{
  setDomainAutoRenew(domainId: $id, autoRenew: $on) {{
    domain {{ id autoRenew expiresOn }} {ERRORS}
  }}
}}"""

MY_ITEMS = "query { me { services { id status } domains { id name autoRenew expiresOn } } }"


async def statuses(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch("SELECT id, status FROM services ORDER BY id")
    return {gid("Service", row["id"]): row["status"] for row in rows}


async def invoiced(conn: asyncpg.Connection, service: str, after: date) -> int:
    return await conn.fetchval(
        """SELECT count(*) FROM invoice_items
            WHERE item_kind = 'SERVICE' AND item_id = $1 AND period_start > $2""",
        pk(service, "Service"),
        after,
    )


async def test_14_2_an_immediate_cancellation_is_carried_out_by_the_next_run(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, token = await client_session(conn)
    cancelled, kept = await accepted_hosting(conn, client_id, 2)

    asked = await payload_of(api, token, REQUEST_CANCELLATION, id=cancelled, type="IMMEDIATE")
    twice = await payload_of(api, token, REQUEST_CANCELLATION, id=cancelled, type="IMMEDIATE")
    before = await statuses(conn)
    run = await runs.perform_run(conn, date.today(), RUN_TOOLS)

    assert asked["request"]["status"] == "PENDING"
    assert asked["request"]["dueDate"] == date.today().isoformat()
    assert [(e["field"], e["code"]) for e in twice["errors"]] == [("serviceId", "CONFLICT")]
    assert before == {cancelled: "ACTIVE", kept: "ACTIVE"}
    assert await statuses(conn) == {cancelled: "CANCELLED", kept: "ACTIVE"}
    assert run.count("services_cancelled") == 1
    staff = await open_staff_session(conn, StaffRole.READ_ONLY, "ro@staff.example.com")
    listed = await gql(
        api,
        "query { cancellationRequests(status: DONE) { totalCount edges { node { serviceId } } } }",
        token=staff,
    )
    assert listed["data"]["cancellationRequests"]["edges"] == [{"node": {"serviceId": cancelled}}]


async def test_14_2_an_end_of_period_cancellation_waits_for_the_due_date_and_stops_renewal(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, token = await client_session(conn)
    cancelled, kept = await accepted_hosting(conn, client_id, 2)
    due = date.fromisoformat(
        await conn.fetchval(
            "SELECT next_due_date::text FROM services WHERE id = $1", pk(cancelled, "Service")
        )
    )

    asked = await payload_of(
        api, token, REQUEST_CANCELLATION, id=cancelled, type="END_OF_BILLING_PERIOD"
    )
    await runs.perform_run(conn, due - timedelta(days=3), RUN_TOOLS)
    in_period = await statuses(conn)
    await runs.perform_run(conn, due, RUN_TOOLS)

    assert asked["request"]["dueDate"] == due.isoformat()
    assert in_period == {cancelled: "ACTIVE", kept: "ACTIVE"}
    # The renewal falls due within the invoicing window: only the service kept is invoiced.
    assert await invoiced(conn, kept, date.today()) == 1
    assert await invoiced(conn, cancelled, date.today()) == 0
    assert await statuses(conn) == {cancelled: "CANCELLED", kept: "ACTIVE"}


async def test_14_2_no_client_cancels_another_clients_service(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    other_id, _ = await client_session(conn, "other@example.com")
    [theirs] = await accepted_hosting(conn, other_id, 1)
    _, token = await client_session(conn)

    refused = await payload_of(api, token, REQUEST_CANCELLATION, id=theirs, type="IMMEDIATE")

    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("serviceId", "NOT_FOUND")]
    assert await conn.fetchval("SELECT count(*) FROM cancellation_requests") == 0


async def test_9_5_a_domain_renews_only_while_it_auto_renews(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    made = await catalogue(conn)
    client_id, token = await client_session(conn)
    order = await orders.place_order(
        conn,
        client_id,
        items=[
            {"product_id": made[".com"], "billing_cycle": "ANNUALLY", "domain": name}
            for name in ("kept.com", "dropped.com")
        ],
        payment_method=None,
        staff_id=None,
    )
    await orders.accept_order(conn, order.id, staff_id=None, client_area_url=CLIENT_AREA_URL)
    kept, dropped = (gid("Domain", i.id) for i in order.items)

    turned_off = await payload_of(api, token, AUTO_RENEW, id=dropped, on=False)
    mine = await gql(api, MY_ITEMS, token=token)
    expiry = date.today().replace(year=date.today().year + 1)
    await runs.perform_run(conn, expiry - timedelta(days=1), RUN_TOOLS)

    assert turned_off["domain"]["autoRenew"] is False
    assert [(d["name"], d["autoRenew"]) for d in mine["data"]["me"]["domains"]] == [
        ("kept.com", True),
        ("dropped.com", False),
    ]
    renewals = await conn.fetch(
        """SELECT item_id, amount FROM invoice_items WHERE item_kind = 'DOMAIN'
            AND period_start > $1""",
        date.today(),
    )
    assert [(gid("Domain", r["item_id"]), r["amount"]) for r in renewals] == [
        (kept, Decimal("12.00"))
    ]


async def test_9_5_no_client_changes_another_clients_domain(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    other_id, _ = await client_session(conn, "other@example.com")
    order = await orders.place_order(
        conn,
        other_id,
        items=[{"kind": ItemKind.DOMAIN, "name": "theirs.com", "amount": "9.00"}],
        payment_method=None,
        staff_id=None,
    )
    _, token = await client_session(conn)

    refused = await payload_of(
        api, token, AUTO_RENEW, id=gid("Domain", order.items[0].id), on=False
    )

    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("domainId", "NOT_FOUND")]
    assert await conn.fetchval("SELECT bool_and(auto_renew) FROM domains")


async def test_14_2_a_services_addons_are_not_renewed_after_its_cancellation_and_end_with_it(
    conn: asyncpg.Connection,
) -> None:
    client_id, _ = await client_session(conn)
    [service] = await accepted_hosting(conn, client_id, 1)
    order = await orders.place_order(
        conn,
        client_id,
        items=[
            {
                "kind": ItemKind.ADDON,
                "name": "Backups",
                "amount": "2.00",
                "service_id": pk(service, "Service"),
            },
            {"kind": ItemKind.ADDON, "name": "Free-standing", "amount": "2.00"},
        ],
        payment_method=None,
        staff_id=None,
    )
    await orders.accept_order(conn, order.id, staff_id=None, client_area_url=CLIENT_AREA_URL)
    await cancellations.request_cancellation(
        conn,
        pk(service, "Service"),
        client_id=client_id,
        type=CancellationType.END_OF_BILLING_PERIOD,
        reason="Closing the site",
        login_id=None,
        today=date.today(),
    )
    due = date.today() + timedelta(days=40)  # past every item's next due date

    await runs.perform_run(conn, due - timedelta(days=12), RUN_TOOLS)
    renewed = await conn.fetch(
        """SELECT item_id FROM invoice_items WHERE item_kind = 'ADDON'
            AND period_start > $1 ORDER BY item_id""",
        date.today(),
    )
    await runs.perform_run(conn, due, RUN_TOOLS)

    with_service, alone = (item.id for item in order.items)
    assert [row["item_id"] for row in renewed] == [alone]
    statuses = dict(await conn.fetch("SELECT id, status FROM addons"))
    assert statuses == {with_service: "CANCELLED", alone: "ACTIVE"}


async def hosting_with_addons(conn: asyncpg.Connection, client_id: int) -> tuple[str, str, str]:
    """An active monthly service of the client with two active addons of it: their ids."""
    [service] = await accepted_hosting(conn, client_id, 1)
    order = await orders.place_order(
        conn,
        client_id,
        items=[
            {
                "kind": ItemKind.ADDON,
                "name": name,
                "amount": "2.00",
                "service_id": pk(service, "Service"),
            }
            for name in ("Backups", "Extra IP")
        ],
        payment_method=None,
        staff_id=None,
    )
    await orders.accept_order(conn, order.id, staff_id=None, client_area_url=CLIENT_AREA_URL)
    backups, extra_ip = (gid("Service", item.id) for item in order.items)
    return service, backups, extra_ip


async def item_statuses(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT id, status FROM services UNION ALL SELECT id, status FROM addons"
    )
    return {gid("Service", row["id"]): row["status"] for row in rows}


async def test_14_2_an_addon_is_cancelled_alone_by_the_next_run_and_its_service_stays(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, token = await client_session(conn)
    service, backups, extra_ip = await hosting_with_addons(conn, client_id)

    asked = await payload_of(api, token, REQUEST_CANCELLATION, id=backups, type="IMMEDIATE")
    twice = await payload_of(api, token, REQUEST_CANCELLATION, id=backups, type="IMMEDIATE")
    run = await runs.perform_run(conn, date.today(), RUN_TOOLS)

    assert asked["errors"] == [] and asked["request"]["serviceId"] == backups
    assert [(e["field"], e["code"]) for e in twice["errors"]] == [("serviceId", "CONFLICT")]
    assert await item_statuses(conn) == {
        service: "ACTIVE",
        backups: "CANCELLED",
        extra_ip: "ACTIVE",
    }
    assert run.count("services_cancelled") == 1
    confirmed = await conn.fetch(
        """SELECT context->'item'->>'name' AS name FROM emails
            WHERE template = 'service_cancellation_confirmation'"""
    )
    assert [row["name"] for row in confirmed] == ["Backups"]
    assert await conn.fetchval(
        "SELECT changes->>'id' FROM audit_log WHERE action = 'addon.cancelled'"
    ) == str(pk(backups, "Service"))
    staff = await open_staff_session(conn, StaffRole.READ_ONLY, "ro@staff.example.com")
    listed = await gql(
        api,
        "query { cancellationRequests { edges { node { serviceId serviceName status } } } }",
        token=staff,
    )
    assert listed["data"]["cancellationRequests"]["edges"] == [
        {"node": {"serviceId": backups, "serviceName": "Backups", "status": "DONE"}}
    ]


async def test_14_2_an_addons_end_of_period_cancellation_stops_only_its_renewal(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, token = await client_session(conn)
    service, backups, extra_ip = await hosting_with_addons(conn, client_id)
    due = await conn.fetchval(
        "SELECT next_due_date FROM addons WHERE id = $1", pk(backups, "Service")
    )

    asked = await payload_of(
        api, token, REQUEST_CANCELLATION, id=backups, type="END_OF_BILLING_PERIOD"
    )
    # The renewals fall due within the invoicing window of this run.
    await runs.perform_run(conn, due - timedelta(days=3), RUN_TOOLS)
    in_period = await item_statuses(conn)
    renewed = await conn.fetch(
        """SELECT item_id FROM invoice_items
            WHERE item_kind IN ('SERVICE', 'ADDON') AND period_start > $1 ORDER BY item_id""",
        date.today(),
    )
    await runs.perform_run(conn, due, RUN_TOOLS)

    assert asked["request"]["dueDate"] == due.isoformat()
    assert in_period == {service: "ACTIVE", backups: "ACTIVE", extra_ip: "ACTIVE"}
    assert [gid("Service", row["item_id"]) for row in renewed] == [service, extra_ip]
    assert await item_statuses(conn) == {
        service: "ACTIVE",
        backups: "CANCELLED",
        extra_ip: "ACTIVE",
    }


async def test_14_2_no_client_cancels_another_clients_addon(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    other_id, _ = await client_session(conn, "other@example.com")
    _, theirs, _ = await hosting_with_addons(conn, other_id)
    _, token = await client_session(conn)

    refused = await payload_of(api, token, REQUEST_CANCELLATION, id=theirs, type="IMMEDIATE")

    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("serviceId", "NOT_FOUND")]
    assert await conn.fetchval("SELECT count(*) FROM cancellation_requests") == 0
