"""Mutations that take files (GraphQL multipart requests): client files, ticket attachments.

The bytes are stored before `perform`'s transaction begins, not inside it: a copy into the
store (a connection of its own for PostgreSQL) must not hold the request's connection in an
open transaction meanwhile. So the checks that spare a useless copy come first, and bytes
that no committed row names are removed at the end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
from starlette.datastructures import UploadFile
from strawberry.types import Info

from domain.auth.viewer import Viewer
from domain.errors import DomainError, ErrorCode
from domain.files import storage
from domain.files.storage import StoredUpload
from resolvers.context import Context
from resolvers.mutation import Refusal, perform, refusing

P = TypeVar("P")


async def perform_with_uploads(
    info: Info[Context, None],
    uploads: Sequence[tuple[str, object]],
    work: Callable[[asyncpg.Connection, Viewer, list[StoredUpload]], Awaitable[P]],
    refused: Refusal[P],
    *,
    check: Callable[[], object] = lambda: None,
) -> P:
    """`perform(work)` given the `uploads` (each with the field its errors name) stored
    first; `check` refuses before anything is stored. A refused, failed or rolled-back
    work leaves none of their bytes."""
    store = info.context.services.files

    async def attempt() -> P:
        check()
        # A JSON request can put any value where an upload belongs.
        for field, upload in uploads:
            if not isinstance(upload, UploadFile):
                raise DomainError.single(
                    ErrorCode.REQUIRED, "Send the file as a multipart request part.", field
                )
        stored: list[StoredUpload] = []
        committed = False

        async def present(payload: P) -> P:
            nonlocal committed
            committed = True
            return payload

        try:
            for field, upload in uploads:
                assert isinstance(upload, UploadFile)
                try:
                    kept = await storage.store_upload(
                        store, upload, info.context.services.max_upload_bytes
                    )
                except DomainError as error:
                    [refusal] = error.errors
                    raise DomainError.single(refusal.code, refusal.message, field) from None
                stored.append(
                    StoredUpload(
                        kept,
                        storage.display_filename(upload.filename),
                        storage.clean_content_type(upload.content_type),
                    )
                )
            return await perform(
                info, lambda conn, viewer: work(conn, viewer, stored), refused, present=present
            )
        finally:
            if not committed and stored:
                await store.remove([upload.stored.stored_name for upload in stored])

    return await refusing(refused, attempt)
