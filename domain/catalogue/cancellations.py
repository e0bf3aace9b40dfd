"""Clients ask to cancel a service (SPEC 14.2); the daily run carries the requests out: an
IMMEDIATE one on the next run, an END_OF_BILLING_PERIOD one when the period paid for ends.
From the request on, the service is not invoiced again (domain/billing/generation.py)."""

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

REQUEST_COLUMNS = """r.id, r.service_id, s.client_id, s.name AS service_name, r.type, r.reason,
    r.status, r.due_date, r.created_at, r.carried_out_at"""
REQUEST_FROM = "FROM cancellation_requests r JOIN services s ON s.id = r.service_id"
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
    service_id: int,
    *,
    client_id: int,
    type: CancellationType,
    reason: str | None,
    login_id: int | None,
    today: date,
) -> CancellationRequest:
    """Ask to cancel the client's own service (another's is not found). One open request
    per service; an immediate one is due today, the other on the service's next due date."""
    check = InputCheck()
    cleaned = check.optional_text("reason", reason, "Reason", MAX_NOTES, multiline=True)
    if not cleaned:
        check.fail("reason", ErrorCode.REQUIRED, "Say why the service is to be cancelled.")
    async with conn.transaction():
        service = await conn.fetchrow(
            """SELECT status, next_due_date FROM services
                WHERE id = $1 AND client_id = $2 FOR UPDATE""",
            service_id,
            client_id,
        )
        if service is None:
            raise NotFound("Service", "serviceId")
        if service["status"] not in CANCELLABLE:
            check.fail("serviceId", ErrorCode.CONFLICT, f"The service is {service['status']}.")
        check.raise_if_failed()
        due = today
        if type is CancellationType.END_OF_BILLING_PERIOD and service["next_due_date"]:
            due = max(today, service["next_due_date"])
        request_id = await conn.fetchval(
            """INSERT INTO cancellation_requests (service_id, type, reason, due_date, requested_by)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (service_id) WHERE status = 'PENDING' DO NOTHING
               RETURNING id""",
            service_id,
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
            action="service.cancellation_requested",
            client_id=client_id,
            changes={"id": service_id, "type": type.value, "due_date": due.isoformat()},
        )
        [request] = await requests_by_ids(conn, [request_id])
        assert request is not None
        return request


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
    """Cancel the services whose requests are due by `as_of`, with their addons, each
    service's cancellation confirmed by email;
    return the requests' ids. Called inside the run's transaction: a service ended
    meanwhile is left as it is."""
    rows = await conn.fetch(
        f"""WITH due AS (
                UPDATE cancellation_requests SET status = 'DONE', carried_out_at = now()
                 WHERE status = 'PENDING' AND due_date <= $1
                RETURNING id, service_id
            ), cancelled AS (
                UPDATE services s SET status = 'CANCELLED' FROM due
                 WHERE s.id = due.service_id AND s.status IN {CANCELLABLE}
                RETURNING s.id, s.client_id
            ), addons_cancelled AS (  -- an addon ends with its service
                UPDATE addons a SET status = 'CANCELLED' FROM cancelled
                 WHERE a.service_id = cancelled.id AND a.status IN {CANCELLABLE}
            )
            SELECT due.id, cancelled.id AS service_id, cancelled.client_id
              FROM due LEFT JOIN cancelled ON cancelled.id = due.service_id
             ORDER BY due.id""",
        as_of,
    )
    for row in rows:
        if row["service_id"] is not None:
            await audit.record(
                conn,
                staff_id=None,
                action="service.cancelled",
                client_id=row["client_id"],
                changes={"id": row["service_id"], "request_id": row["id"]},
            )
    await queue_item_emails(
        conn,
        "service_cancellation_confirmation",
        ItemKind.SERVICE,
        [row["service_id"] for row in rows if row["service_id"] is not None],
        client_area_url=client_area_url,
    )
    return [row["id"] for row in rows]
