"""A store of client files' bytes in an S3-compatible bucket (`storage.FileStore`): AWS S3,
MinIO, Ceph, Garage, Cloudflare R2 and the like, which every API host reaches.

Each file is one object, `<prefix><stored name>`. A file larger than one part is sent as a
multipart upload, a part at a time, so memory holds one part (PART_BYTES) whatever the
file's size; an upload that fails is aborted, so no object (and no stray part) is left.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from domain.files.storage import CHUNK_BYTES, MissingBytes, check_stored_name

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger(__name__)

# S3 refuses parts under 5 MiB (but the last); larger parts mean fewer requests.
PART_BYTES = 8 * 1024 * 1024
# The most keys one DeleteObjects request may name.
DELETE_BATCH = 1000
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Store:
    kind = "s3"

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    def key(self, stored_name: str) -> str:
        return self._prefix + check_stored_name(stored_name)

    async def write(self, stored_name: str, chunks: AsyncIterator[bytes]) -> None:
        key = self.key(stored_name)
        part = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, object]] = []
        try:
            async for chunk in chunks:
                part += chunk
                if len(part) >= PART_BYTES:
                    if upload_id is None:
                        started = await self._client.create_multipart_upload(
                            Bucket=self._bucket, Key=key
                        )
                        upload_id = started["UploadId"]
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, part))
                    part = bytearray()
            if upload_id is None:
                await self._client.put_object(Bucket=self._bucket, Key=key, Body=bytes(part))
                return
            if part:
                parts.append(await self._upload_part(key, upload_id, len(parts) + 1, part))
            await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(BotoCoreError, ClientError):
                    await self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=key, UploadId=upload_id
                    )
            raise

    async def _upload_part(
        self, key: str, upload_id: str, number: int, data: bytearray
    ) -> dict[str, object]:
        sent = await self._client.upload_part(
            Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(data)
        )
        return {"PartNumber": number, "ETag": sent["ETag"]}

    async def open(self, stored_name: str) -> AsyncIterator[bytes]:
        try:
            got = await self._client.get_object(Bucket=self._bucket, Key=self.key(stored_name))
        except ClientError as error:
            if _is_missing(error):
                raise MissingBytes(stored_name) from None
            raise
        return _body_chunks(got["Body"])

    async def has(self, stored_name: str) -> bool:
        try:
            await self._client.head_object(Bucket=self._bucket, Key=self.key(stored_name))
        except ClientError as error:
            if _is_missing(error):
                return False
            raise
        return True

    async def remove(self, stored_names: Iterable[str]) -> None:
        keys = [self.key(name) for name in stored_names]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                await self._client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            except (BotoCoreError, ClientError):
                log.warning("could not remove stored objects %r", batch, exc_info=True)


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _MISSING_CODES


async def _body_chunks(body: object) -> AsyncIterator[bytes]:
    async with body:  # type: ignore[attr-defined]
        async for chunk in body.iter_chunks(CHUNK_BYTES):  # type: ignore[attr-defined]
            yield chunk
