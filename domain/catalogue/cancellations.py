"""Clients ask to cancel a service, or an addon alone (SPEC 14.2); the daily run carries the
requests out: an IMMEDIATE one on the next run, an END_OF_BILLING_PERIOD one when the period
paid for ends. From the request on, the item is not invoiced again, nor a service's addons
(domain/billing/generation.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import asyncpg

from domain import audit
from domain.billing.models import ItemKind
from domain.catalogue.emails import queue_item_emails
from domain.catalogue.models import CancellationRequest, CancellationStatus, CancellationType
from domain.errors import DomainError, ErrorCode, NotFound
from domain.paging import Keyset, Page, PageRequest, fetch_page
from domain.totals import Total, count_rows
from domain.validation import MAX_NOTES, InputCheck

# A request names a service or an addon: `service_id` is the item's (ids are unique across
# both, as the API's Service ids are).
REQUEST_COLUMNS = """r.id, coalesce(r.service_id, r.addon_id) AS service_id,
    coalesce(s.client_id, a.client_id) AS client_id, coalesce(s.name, a.name) AS service_name,
    r.type, r.reason, r.status, r.due_date, r.created_at, r.carried_out_at"""
REQUEST_FROM = """FROM cancellation_requests r LEFT JOIN services s ON s.id = r.service_id
    LEFT JOIN addons a ON a.id = r.addon_id"""
# The request's column naming each kind of item it may cancel.
REQUESTED = {ItemKind.SERVICE: "service_id", ItemKind.ADDON: "addon_id"}
CANCELLATION_REQUESTS = Keyset(
    columns=REQUEST_COLUMNS,
    source=REQUEST_FROM,
    expression="r.id",
    sql_type="bigint",
    id_column="r.id",
)
# A service in one of these may still be cancelled; the others have ended already.
CANCELLABLE = ("PENDING", "ACTIVE", "SUSPENDED")


def request_from_row(row: Mapping[str, Any]) -> CancellationRequest:
    values = dict(row)
    return CancellationRequest(
        **{
            **values,
            "type": CancellationType(values["type"]),
            "status": CancellationStatus(values["status"]),
        }
    )


async def request_cancellation(
    conn: asyncpg.Connection,
    item_id: int,
    *,
    client_id: int,
    type: CancellationType,
    reason: str | None,
    login_id: int | None,
    today: date,
) -> CancellationRequest:
    """Ask to cancel the client's own service or addon (`item_id`; another client's is not
    found). One open request per item; an immediate one is due today, the other on the
    item's next due date."""
    check = InputCheck()
    cleaned = check.optional_text("reason", reason, "Reason", MAX_NOTES, multiline=True)
    if not cleaned:
        check.fail("reason", ErrorCode.REQUIRED, "Say why the service is to be cancelled.")
    async with conn.transaction():
        kind, service = await _cancellable_item(conn, item_id, client_id)
        if service["status"] not in CANCELLABLE:
            check.fail("serviceId", ErrorCode.CONFLICT, f"The service is {service['status']}.")
        check.raise_if_failed()
        due = today
        if type is CancellationType.END_OF_BILLING_PERIOD and service["next_due_date"]:
            due = max(today, service["next_due_date"])
        column = REQUESTED[kind]
        request_id = await conn.fetchval(
            f"""INSERT INTO cancellation_requests ({column}, type, reason, due_date, requested_by)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT ({column}) WHERE status = 'PENDING' DO NOTHING
                RETURNING id""",
            item_id,
            type.value,
            cleaned,
            due,
            login_id,
        )
        if request_id is None:
            raise DomainError.single(
                ErrorCode.CONFLICT, "The service's cancellation is already requested.", "serviceId"
            )
        await audit.record(
            conn,
            staff_id=None,
            action=f"{kind.value.lower()}.cancellation_requested",
            client_id=client_id,
            changes={"id": item_id, "type": type.value, "due_date": due.isoformat()},
        )
        [request] = await requests_by_ids(conn, [request_id])
        assert request is not None
        return request


async def _cancellable_item(
    conn: asyncpg.Connection, item_id: int, client_id: int
) -> tuple[ItemKind, asyncpg.Record]:
    """The client's service or addon of `item_id`, its row locked: its kind, status and
    next due date."""
    for kind in REQUESTED:
        row = await conn.fetchrow(
            f"""SELECT status, next_due_date FROM {kind.table}
                 WHERE id = $1 AND client_id = $2 FOR UPDATE""",
            item_id,
            client_id,
        )
        if row is not None:
            return kind, row
    raise NotFound("Service", "serviceId")


async def requests_by_ids(
    conn: asyncpg.Connection, request_ids: Sequence[int]
) -> list[CancellationRequest | None]:
    """The requests of these ids, in their order (None: no such request)."""
    rows = await conn.fetch(
        f"SELECT {REQUEST_COLUMNS} {REQUEST_FROM} WHERE r.id = ANY($1::bigint[])",
        list(request_ids),
    )
    found = {row["id"]: request_from_row(row) for row in rows}
    return [found.get(request_id) for request_id in request_ids]


def _conditions(status: CancellationStatus | None) -> tuple[list[str], list[Any]]:
    return ([], []) if status is None else (["r.status = $1"], [status.value])


async def find_cancellation_requests(
    conn: asyncpg.Connection,
    request: PageRequest,
    *,
    status: CancellationStatus | None,
    look_behind: bool = True,
) -> Page[CancellationRequest]:
    """A page of the requests, newest first; only those of `status` when given."""
    conditions, params = _conditions(status)
    return await fetch_page(
        conn,
        CANCELLATION_REQUESTS,
        request,
        request_from_row,
        conditions=conditions,
        params=params,
        descending=True,
        look_behind=look_behind,
    )


async def count_cancellation_requests(
    conn: asyncpg.Connection, *, status: CancellationStatus | None
) -> Total:
    conditions, params = _conditions(status)
    return await count_rows(
        conn, "FROM cancellation_requests r", conditions=conditions, params=params
    )


async def carry_out_cancellations(
    conn: asyncpg.Connection, *, as_of: date, client_area_url: str
) -> list[int]:
    """Cancel the services whose requests are due by `as_of`, with their addons, and the
    addons whose own requests are, each cancelled item's cancellation confirmed by email;
    return the requests' ids. Called inside the run's transaction: an item ended meanwhile
    is left as it is."""
    rows = await conn.fetch(
        f"""WITH due AS (
                UPDATE cancellation_requests SET status = 'DONE', carried_out_at = now()
                 WHERE status = 'PENDING' AND due_date <= $1
                RETURNING id, service_id, addon_id
            ), services_cancelled AS (
                UPDATE services s SET status = 'CANCELLED' FROM due
                 WHERE s.id = due.service_id AND s.status IN {CANCELLABLE}
                RETURNING s.id, s.client_id
            ), addons_cancelled AS (
                UPDATE addons a SET status = 'CANCELLED' FROM due
                 WHERE a.id = due.addon_id AND a.status IN {CANCELLABLE}
                RETURNING a.id, a.client_id
            ), addons_of_services AS (  -- an addon ends with its service, told with it
                UPDATE addons a SET status = 'CANCELLED' FROM services_cancelled
                 WHERE a.service_id = services_cancelled.id AND a.status IN {CANCELLABLE}
                   AND a.id NOT IN (SELECT id FROM addons_cancelled)
            ), cancelled AS (
                SELECT id, client_id, 'SERVICE' AS kind FROM services_cancelled
                UNION ALL SELECT id, client_id, 'ADDON' FROM addons_cancelled
            ), carried_out AS (
                SELECT due.id, cancelled.id AS item_id, cancelled.kind, cancelled.client_id
                  FROM due LEFT JOIN cancelled
                    ON cancelled.id = coalesce(due.service_id, due.addon_id)
            ), audited AS (  -- one audit entry per cancelled item, in this statement
                INSERT INTO audit_log (staff_id, action, client_id, changes)
                SELECT NULL, lower(kind) || '.cancelled', client_id,
                       jsonb_build_object('id', item_id, 'request_id', id)
                  FROM carried_out WHERE item_id IS NOT NULL ORDER BY id
            )
            SELECT * FROM carried_out ORDER BY id""",
        as_of,
    )
    for kind in REQUESTED:
        cancelled = [row["item_id"] for row in rows if row["kind"] == kind.value]
        if cancelled:
            await queue_item_emails(
                conn,
                "service_cancellation_confirmation",
                kind,
                cancelled,
                client_area_url=client_area_url,
            )
    return [row["id"] for row in rows]
