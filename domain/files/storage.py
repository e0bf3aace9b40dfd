"""The bytes of client files in the attachments directory (SPEC 6.2).

Each file is stored under a name we generate, never one a request chose, so no upload can
name a path outside the directory or overwrite another file. The size limit is enforced as
the bytes are copied, whatever the request declared, and a refused copy leaves nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from domain.errors import DomainError, ErrorCode

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
# What a generated name looks like; anything else is never joined to the directory.
STORED_NAME = re.compile(r"[0-9a-f]{32}")
MAX_FILENAME = 255


class Readable(Protocol):
    """An upload being read: Starlette's UploadFile, or anything with an async `read`."""

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class StoredBytes:
    stored_name: str
    size: int


def stored_path(attachments_dir: Path, stored_name: str) -> Path:
    """Where a stored file's bytes are; ValueError for a name we would not have generated."""
    if not STORED_NAME.fullmatch(stored_name):
        raise ValueError(f"not a stored file name: {stored_name!r}")
    return attachments_dir / stored_name


async def store_upload(attachments_dir: Path, source: Readable, max_bytes: int) -> StoredBytes:
    """Copy `source` into a new file of the directory, a chunk at a time (memory stays at one
    chunk whatever the size). Beyond `max_bytes` the copy stops, its partial file is removed
    and a DomainError on `file` is raised."""
    stored_name = secrets.token_hex(16)
    path = stored_path(attachments_dir, stored_name)
    handle = await asyncio.to_thread(_create, path)
    size = 0
    try:
        with handle:
            while chunk := await source.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise DomainError.single(
                        ErrorCode.INVALID, f"The file is larger than {max_bytes} bytes.", "file"
                    )
                await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        remove_stored_files(attachments_dir, [stored_name])
        raise
    return StoredBytes(stored_name, size)


def _create(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: a name collision (or a planted link) fails instead of writing through it.
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640), "wb")


def remove_stored_files(attachments_dir: Path, stored_names: Iterable[str]) -> None:
    """Delete these files' bytes; call it after the transaction that deleted their rows has
    committed (a rolled-back delete must still find its bytes). Bytes already gone are fine;
    a file that cannot be removed is logged, since its row is gone either way."""
    for name in stored_names:
        try:
            stored_path(attachments_dir, name).unlink(missing_ok=True)
        except (OSError, ValueError):
            log.warning("could not remove stored file %r", name, exc_info=True)


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
