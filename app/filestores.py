"""The store of client files' bytes that the settings choose (FILE_STORAGE), for the app's
lifespan, the workers' and `clientdesk move-files`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from app.settings import Settings
from domain.files.storage import FileStore
from domain.files.stores import LocalStore, PostgresStore


@contextlib.asynccontextmanager
async def open_file_store(
    settings: Settings, pool: asyncpg.Pool, kind: str | None = None
) -> AsyncIterator[FileStore]:
    """The store of `kind` (FILE_STORAGE by default), open until the block ends."""
    kind = kind or settings.file_storage
    if kind == "postgres":
        yield PostgresStore(pool)
    elif kind == "local":
        yield LocalStore(settings.attachments_dir)
    elif kind == "s3":
        if not settings.s3_bucket:
            raise ValueError("the s3 store needs S3_BUCKET")
        # Imported only when chosen: the S3 client is large and most installations use none.
        from aiobotocore.session import get_session

        from domain.files.s3 import S3Store

        async with get_session().create_client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key or None,
        ) as client:
            yield S3Store(client, settings.s3_bucket, settings.s3_prefix)
    else:
        raise ValueError(f"no file store is called {kind!r}: postgres, local or s3")
