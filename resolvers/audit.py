"""The audit log query (SPEC 10.3)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from domain import audit
from domain.auth.permissions import StaffPermission
from resolvers.context import Context
from resolvers.inputs import parse_id
from resolvers.pagination import (
    After,
    Before,
    First,
    Last,
    connection,
    cursor_errors,
    looks_behind,
    page_request,
)
from resolvers.permissions import staff
from schema.audit import AuditEntry, AuditEntryConnection
from schema.common import PageInfo

# The key of the audit log in its cursors.
AUDIT_LOG = "audit-log"


async def audit_log(
    info: Info[Context, None],
    client_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="Only this client's, also after it was deleted."),
    ] = None,
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> AuditEntryConnection:
    request = page_request(AUDIT_LOG, first, after, last, before)
    client = None
    if client_id is not None:
        client = parse_id(client_id, "Client")
        if client is None:  # an id of nothing: nothing of it
            return AuditEntryConnection(edges=[], page_info=PageInfo.empty())
    async with info.context.pool.acquire() as conn:
        with cursor_errors():
            page = await audit.audit_entries(
                conn, request, client_id=client, look_behind=looks_behind(info, request)
            )
    return connection(AuditEntryConnection, page, AUDIT_LOG, AuditEntry.build)


@strawberry.type(description="Root fields of the audit log: what can be read.")
class Queries:
    audit_log: AuditEntryConnection = strawberry.field(
        resolver=audit_log,
        extensions=staff(StaffPermission.VIEW_AUDIT_LOG),
        description="Staff changes to clients, newest first; of one client or all (staff).",
    )
