"""Where client files' bytes are kept (SPEC 6.2): the store interface, and what every store
shares: generated names, the size limit enforced while the bytes are copied, cleaned names.

Each file is stored under a name we generate, never one a request chose, so no upload can
name a path or key outside its store or overwrite another file. The size limit is enforced
as the bytes are copied, whatever the request declared, and a refused copy leaves nothing.
The stores themselves are in `domain/files/stores.py` (PostgreSQL, a directory) and
`domain/files/s3.py` (an S3-compatible bucket).
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Protocol

from domain.errors import DomainError, ErrorCode

log = logging.getLogger(__name__)

# The bytes are read, stored and served in chunks of this size: what one file costs in
# memory, whatever its size (and the size of a `file_chunks` row).
CHUNK_BYTES = 256 * 1024
# What a generated name looks like; anything else is never joined to a path or a key.
STORED_NAME = re.compile(r"[0-9a-f]{32}")
MAX_FILENAME = 255


class Readable(Protocol):
    """An upload being read: Starlette's UploadFile, or anything with an async `read`."""

    async def read(self, size: int = -1) -> bytes: ...


class MissingBytes(LookupError):
    """A file's bytes are not in the store (lost, never moved there, or deleted meanwhile)."""


class FileStore(Protocol):
    """Somewhere the bytes of files are kept, each under its generated name."""

    # What FILE_STORAGE calls it: "postgres", "local" or "s3".
    kind: str

    async def write(self, stored_name: str, chunks: AsyncIterator[bytes]) -> None:
        """Store every chunk under the name, all or nothing: when `chunks` (or the store)
        raises, nothing is left under the name and the error propagates."""
        ...

    async def open(self, stored_name: str) -> AsyncIterator[bytes]:
        """The bytes, chunk by chunk; MissingBytes, before any chunk, when there are none.
        A file removed while it is read raises MissingBytes part-way."""
        ...

    async def has(self, stored_name: str) -> bool:
        """Whether the store holds the file's bytes, complete."""
        ...

    async def remove(self, stored_names: Iterable[str]) -> None:
        """Delete these files' bytes; call it after the transaction that deleted their rows
        has committed (a rolled-back delete must still find its bytes). Bytes already gone
        are fine; bytes that cannot be removed are logged, since their rows are gone."""
        ...


@dataclass(frozen=True)
class StoredBytes:
    stored_name: str
    size: int


@dataclass(frozen=True)
class StoredUpload:
    """An upload's bytes, stored, with the uploader's file name and type as shown."""

    stored: StoredBytes
    filename: str
    content_type: str


def check_stored_name(stored_name: str) -> str:
    """The name itself; ValueError for a name we would not have generated."""
    if not STORED_NAME.fullmatch(stored_name):
        raise ValueError(f"not a stored file name: {stored_name!r}")
    return stored_name


async def store_upload(store: FileStore, source: Readable, max_bytes: int) -> StoredBytes:
    """Copy `source` into the store under a new name, a chunk at a time (memory stays at a
    chunk or two whatever the size). Beyond `max_bytes` the copy stops, leaving nothing, and
    a DomainError on `file` is raised."""
    stored_name = secrets.token_hex(16)
    size = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal size
        # Reads may come back short (a socket, a test's source): whole chunks are stored.
        pending = bytearray()
        while data := await source.read(CHUNK_BYTES):
            size += len(data)
            if size > max_bytes:
                raise DomainError.single(
                    ErrorCode.INVALID, f"The file is larger than {max_bytes} bytes.", "file"
                )
            pending += data
            while len(pending) >= CHUNK_BYTES:
                yield bytes(pending[:CHUNK_BYTES])
                del pending[:CHUNK_BYTES]
        if pending:
            yield bytes(pending)

    await store.write(stored_name, chunks())
    return StoredBytes(stored_name, size)


def display_filename(given: str | None) -> str:
    """The uploader's file name, for display and downloads only: its last path part, without
    control or separator characters, at most MAX_FILENAME characters; "file" when nothing
    is left."""
    name = re.split(r"[/\\]", given or "")[-1]
    name = "".join(
        " " if unicodedata.category(ch).startswith(("C", "Z")) else ch
        for ch in unicodedata.normalize("NFC", name)
    )
    name = " ".join(name.split())[:MAX_FILENAME]
    return "file" if name in ("", ".", "..") else name


# type/subtype with optional parameters, tokens only: anything else is served as bytes.
_CONTENT_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)


def clean_content_type(given: str | None) -> str:
    """The media type (lower case, parameters dropped) of an upload; application/octet-stream
    when missing or malformed."""
    media_type = (given or "").split(";", 1)[0].strip()
    if _CONTENT_TYPE.fullmatch(media_type):
        return media_type.lower()
    return "application/octet-stream"
