"""Files on ticket messages (SPEC 15.1): stored as client files are (domain/files, the same
store, names and limits), read by whoever reads the ticket, an internal note's by staff only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.errors import DomainError, ErrorCode
from domain.files.storage import StoredUpload

# At most this many files on one message, each within the upload limit (MAX_UPLOAD_BYTES).
MAX_ATTACHMENTS = 5
# Who reads a ticket (`Client.tickets`) reads its files.
STAFF_PERMISSION = StaffPermission.VIEW_CLIENTS
CLIENT_AREA_PERMISSION = ContactPermission.TICKETS


@dataclass(frozen=True)
class Attachment:
    id: int
    message_id: int
    client_id: int
    # Of an internal note: for staff alone.
    internal: bool
    filename: str
    stored_name: str
    content_type: str
    size: int
    uploaded_at: datetime


_COLUMNS = """a.id, a.message_id, t.client_id, m.internal, a.filename, a.stored_name,
    a.content_type, a.size, a.uploaded_at"""
_FROM = """FROM ticket_attachments a JOIN ticket_messages m ON m.id = a.message_id
    JOIN tickets t ON t.id = m.ticket_id"""


def check_count(count: int) -> None:
    """A DomainError on `attachments` for more files than one message carries."""
    if count > MAX_ATTACHMENTS:
        raise DomainError.single(
            ErrorCode.INVALID, f"At most {MAX_ATTACHMENTS} files on one message.", "attachments"
        )


async def add_attachments(
    conn: asyncpg.Connection, message_id: int, attachments: Sequence[StoredUpload]
) -> None:
    """Record files already stored (`storage.store_upload`) as the message's."""
    check_count(len(attachments))
    if not attachments:
        return
    await conn.executemany(
        """INSERT INTO ticket_attachments (message_id, filename, stored_name, content_type, size)
           VALUES ($1, $2, $3, $4, $5)""",
        [
            (message_id, a.filename, a.stored.stored_name, a.content_type, a.stored.size)
            for a in attachments
        ],
    )


def _attachment(row: asyncpg.Record) -> Attachment:
    return Attachment(**dict(row))


async def attachments_by_message(
    conn: asyncpg.Connection, message_ids: Sequence[int]
) -> dict[int, list[Attachment]]:
    """The files of several messages, in the order they were given."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} {_FROM} WHERE a.message_id = ANY($1::bigint[])
             ORDER BY a.message_id, a.id""",
        list(message_ids),
    )
    found: dict[int, list[Attachment]] = {mid: [] for mid in message_ids}
    for row in rows:
        found[row["message_id"]].append(_attachment(row))
    return found


async def attachments_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Attachment]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} {_FROM} WHERE a.id = ANY($1::bigint[])", list(ids))
    return {row["id"]: _attachment(row) for row in rows}


async def stored_names_of_client(conn: asyncpg.Connection, client_id: int) -> list[str]:
    """The stored names of every file on the client's tickets (whose bytes go after the
    client is deleted)."""
    rows = await conn.fetch(
        f"SELECT a.stored_name {_FROM} WHERE t.client_id = $1 ORDER BY a.id", client_id
    )
    return [row["stored_name"] for row in rows]


def may_see(viewer: Viewer | None, attachment: Attachment) -> bool:
    """Staff who read tickets see every file; the client area its own client's, the account
    holder and sub-accounts with TICKETS, and never an internal note's."""
    return (
        viewer is not None
        and (viewer.is_staff or not attachment.internal)
        and viewer.may_read_client(
            attachment.client_id, staff=STAFF_PERMISSION, client_area=CLIENT_AREA_PERMISSION
        )
    )
