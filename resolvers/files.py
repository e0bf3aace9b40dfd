"""Root mutations of client files (SPEC 6): upload (GraphQL multipart request), rename or
flag, delete. The bytes are served by `GET /files/{id}` (app/downloads.py)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import strawberry
from strawberry.file_uploads import Upload
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.files import services
from domain.files.storage import StoredUpload
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import staff
from resolvers.uploads import perform_with_uploads
from schema.common import OkPayload
from schema.files import ClientFile, ClientFilePayload

FileIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The file's id.")]


async def upload_client_file(
    info: Info[Context, None],
    client_id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
    file: Annotated[
        Upload,
        strawberry.argument(
            description="The file, sent as a GraphQL multipart request (with a "
            "`X-CSRF-Protection` or `Apollo-Require-Preflight` header)."
        ),
    ],
    title: Annotated[str, strawberry.argument(description="What to call the file.")],
    admin_only: Annotated[
        bool, strawberry.argument(description="Only staff see it; else the client area too.")
    ],
) -> ClientFilePayload:
    def check() -> None:
        existing_id(client_id, "Client", "client_id")
        services.clean_title(title)

    async def work(
        conn: asyncpg.Connection, viewer: Viewer, stored: list[StoredUpload]
    ) -> ClientFilePayload:
        [upload] = stored
        row = await services.add_file(
            conn,
            existing_id(client_id, "Client", "client_id"),
            upload.stored,
            title=title,
            filename=upload.filename,
            content_type=upload.content_type,
            admin_only=admin_only,
            staff_id=viewer.staff_id,
        )
        return ClientFilePayload(file=ClientFile.build(row))

    return await perform_with_uploads(info, [("file", file)], work, ClientFilePayload, check=check)


async def update_client_file(
    info: Info[Context, None],
    id: FileIdArgument,
    title: Annotated[str | None, strawberry.argument(description="A new title.")] = None,
    admin_only: Annotated[
        bool | None, strawberry.argument(description="Whether only staff see it.")
    ] = None,
) -> ClientFilePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ClientFilePayload:
        row = await services.update_file(
            conn,
            existing_id(id, "ClientFile"),
            title=title,
            admin_only=admin_only,
            staff_id=viewer.staff_id,
        )
        return ClientFilePayload(file=ClientFile.build(row))

    return await perform(info, work, ClientFilePayload)


async def delete_client_file(info: Info[Context, None], id: FileIdArgument) -> OkPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> str:
        return await services.delete_file(
            conn, existing_id(id, "ClientFile"), staff_id=viewer.staff_id
        )

    async def present(stored_name: str) -> OkPayload:
        # Committed: only now may the bytes go (a rolled-back delete still needs them).
        await info.context.services.files.remove([stored_name])
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload, present=present)


@strawberry.type(description="Root fields of client files: what can be changed.")
class Mutations:
    upload_client_file: ClientFilePayload = strawberry.field(
        resolver=upload_client_file,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Attach a file to a client (GraphQL multipart request; at most "
        "MAX_UPLOAD_BYTES).",
    )
    update_client_file: ClientFilePayload = strawberry.field(
        resolver=update_client_file,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Rename a client file or change its adminOnly flag; omitted values stay.",
    )
    delete_client_file: OkPayload = strawberry.field(
        resolver=delete_client_file,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Delete a client file and its bytes.",
    )
