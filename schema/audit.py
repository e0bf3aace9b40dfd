"""Audit log types (SPEC 10.3)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain.audit import AuditEntry as EntryRow
from schema.connections import Connection
from schema.ids import global_id
from schema.node import Node


@strawberry.type(description="One staff change to a client, as the audit log keeps it.")
class AuditEntry(Node):
    id: strawberry.ID = strawberry.field(description="The entry's id.")
    at: datetime = strawberry.field(description="When the change was made.")
    staff: str | None = strawberry.field(
        description="Name of the staff member who made it; null when made by the system "
        "or by a staff account since removed."
    )
    api_key: str | None = strawberry.field(
        description="The name of the API key it was made with (for the staff member named), "
        "null when made otherwise or by a key since deleted with its role."
    )
    api_key_id: strawberry.ID | None = strawberry.field(
        description="The id of the API key it was made with, if any."
    )
    action: str = strawberry.field(
        description="What was done, e.g. client.updated, credit.added, file.deleted."
    )
    client_id: strawberry.ID | None = strawberry.field(
        description="The client changed (its id stays valid in the log after deletion)."
    )
    changes: JSON = strawberry.field(
        description="The fields changed, as {field: {from, to}} or the values set; secrets "
        "(passwords, card numbers) never appear."
    )

    @classmethod
    def build(cls, row: EntryRow) -> AuditEntry:
        return cls(
            id=global_id("AuditEntry", row.id),
            at=row.at,
            staff=row.staff_name,
            api_key=row.api_key_name,
            api_key_id=global_id("ApiKey", row.api_key_id) if row.api_key_id is not None else None,
            action=row.action,
            client_id=global_id("Client", row.client_id) if row.client_id is not None else None,
            changes=JSON(row.changes),
        )


@strawberry.type(description="A page of the audit log, newest first.")
class AuditEntryConnection(Connection[AuditEntry]):
    pass
