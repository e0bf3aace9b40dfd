"""The audit log query (SPEC 10.3)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain import audit
from domain.auth.permissions import StaffPermission
from resolvers.context import Context
from resolvers.pagination import (
    After,
    Before,
    ClientFilter,
    First,
    Last,
    client_list,
)
from resolvers.permissions import staff
from schema.audit import AuditEntry, AuditEntryConnection

# The key of the audit log in its cursors.
AUDIT_LOG = "audit-log"


async def audit_log(
    info: Info[Context, None],
    client_id: ClientFilter = None,
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> AuditEntryConnection:
    return await client_list(
        info,
        AuditEntryConnection,
        AUDIT_LOG,
        audit.audit_entries,
        AuditEntry.build,
        client_id,
        first,
        after,
        last,
        before,
    )


@strawberry.type(description="Root fields of the audit log: what can be read.")
class Queries:
    audit_log: AuditEntryConnection = strawberry.field(
        resolver=audit_log,
        extensions=staff(StaffPermission.VIEW_AUDIT_LOG),
        description="Staff changes to clients, newest first; of one client or all (staff).",
    )
