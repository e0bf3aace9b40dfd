"""Client file types and payloads (SPEC 6)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.files.services import ClientFile as FileRow
from schema.common import UserError
from schema.ids import global_id
from schema.node import Node


@strawberry.type(
    description="A file staff attached to a client; its bytes are downloaded from "
    "`GET /files/{id}`."
)
class ClientFile(Node):
    id: strawberry.ID = strawberry.field(description="The file's id, also its download path.")
    title: str = strawberry.field(description="What staff called the file.")
    filename: str = strawberry.field(
        description="The uploaded file's name (cleaned), given to downloads."
    )
    admin_only: bool = strawberry.field(
        description="Only staff see it; otherwise the client area lists it too."
    )
    size: int = strawberry.field(description="Size in bytes.")
    content_type: str = strawberry.field(description="Media type it is downloaded as.")
    uploaded_at: datetime = strawberry.field(description="When it was uploaded.")

    @classmethod
    def build(cls, row: FileRow) -> ClientFile:
        return cls(
            id=global_id("ClientFile", row.id),
            title=row.title,
            filename=row.filename,
            admin_only=row.admin_only,
            size=row.size,
            content_type=row.content_type,
            uploaded_at=row.uploaded_at,
        )


@strawberry.type(description="The result of uploading or changing a client file.")
class ClientFilePayload:
    file: ClientFile | None = strawberry.field(
        default=None, description="The file as it now is; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
