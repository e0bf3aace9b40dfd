"""Staff use cases of client files (SPEC 6.1–6.2): add, list, rename and flag, delete; each
change audited (SPEC 10.3). Who may download which file is decided here too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from domain import audit
from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.errors import NotFound
from domain.files.storage import StoredBytes
from domain.nested import by_id, first_of_each, grouped
from domain.validation import InputCheck

# A sub-account reads its client's files with the PROFILE permission: files staff share
# with a client (contracts, agreements, account documents) belong to the account, like
# the account holder's details, not to one of its products or its invoices.
CLIENT_AREA_PERMISSION = ContactPermission.PROFILE
STAFF_PERMISSION = StaffPermission.VIEW_CLIENTS


@dataclass(frozen=True)
class ClientFile:
    id: int
    client_id: int
    title: str
    filename: str
    stored_name: str
    content_type: str
    size: int
    admin_only: bool
    uploaded_at: datetime


_COLUMNS = (
    "id, client_id, title, filename, stored_name, content_type, size, admin_only, uploaded_at"
)


def clean_title(title: str | None) -> str:
    """The title as stored; a DomainError on `title` when empty or unstorable."""
    check = InputCheck()
    cleaned = check.required_text("title", title, "Title")
    check.raise_if_failed()
    return cleaned


async def add_file(
    conn: asyncpg.Connection,
    client_id: int,
    stored: StoredBytes,
    *,
    title: str,
    filename: str,
    content_type: str,
    admin_only: bool,
    staff_id: int | None,
) -> ClientFile:
    """Record bytes already stored (`storage.store_upload`) as a file of the client. Should
    the file not be recorded (a bad title, no such client, a rollback), the caller removes
    the bytes, which no row names."""
    async with conn.transaction():
        cleaned = clean_title(title)
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1 FOR KEY SHARE)", client_id
        ):
            raise NotFound("Client", "client_id")
        row = await conn.fetchrow(
            f"""INSERT INTO client_files
                    (client_id, title, filename, stored_name, content_type, size, admin_only)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}""",
            client_id,
            cleaned,
            filename,
            stored.stored_name,
            content_type,
            stored.size,
            admin_only,
        )
        added = ClientFile(**dict(row))
        await audit.record(
            conn,
            staff_id=staff_id,
            action="file.uploaded",
            client_id=client_id,
            changes={
                "file_id": added.id,
                "title": added.title,
                "filename": added.filename,
                "size": added.size,
                "content_type": added.content_type,
                "admin_only": added.admin_only,
            },
        )
        return added


async def update_file(
    conn: asyncpg.Connection,
    file_id: int,
    *,
    title: str | None,
    admin_only: bool | None,
    staff_id: int | None,
) -> ClientFile:
    """Rename a file and/or change its adminOnly flag; None leaves a value as it is."""
    async with conn.transaction():
        current = await _lock_file(conn, file_id)
        wanted = {
            "title": current.title if title is None else clean_title(title),
            "admin_only": current.admin_only if admin_only is None else admin_only,
        }
        changes = {k: v for k, v in wanted.items() if getattr(current, k) != v}
        if not changes:
            return current
        row = await conn.fetchrow(
            f"""UPDATE client_files SET title = $2, admin_only = $3 WHERE id = $1
                RETURNING {_COLUMNS}""",
            file_id,
            wanted["title"],
            wanted["admin_only"],
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="file.updated",
            client_id=current.client_id,
            changes={
                "file_id": file_id,
                **{k: {"from": getattr(current, k), "to": v} for k, v in changes.items()},
            },
        )
        return ClientFile(**dict(row))


async def delete_file(conn: asyncpg.Connection, file_id: int, *, staff_id: int | None) -> str:
    """Delete a file's row; return its stored name, whose bytes the caller removes from the
    store (`FileStore.remove`) once the transaction has committed."""
    async with conn.transaction():
        current = await _lock_file(conn, file_id)
        await conn.execute("DELETE FROM client_files WHERE id = $1", file_id)
        await audit.record(
            conn,
            staff_id=staff_id,
            action="file.deleted",
            client_id=current.client_id,
            changes={"file_id": file_id, "title": current.title, "filename": current.filename},
        )
        return current.stored_name


async def _lock_file(conn: asyncpg.Connection, file_id: int) -> ClientFile:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM client_files WHERE id = $1 FOR UPDATE", file_id
    )
    if row is None:
        raise NotFound("File")
    return ClientFile(**dict(row))


async def get_file(conn: asyncpg.Connection, file_id: int) -> ClientFile | None:
    return (await files_by_ids(conn, [file_id])).get(file_id)


async def files_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, ClientFile]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM client_files WHERE id = ANY($1::bigint[])", list(ids)
    )
    return by_id(rows, lambda row: ClientFile(**dict(row)))


async def files_by_client(
    conn: asyncpg.Connection,
    client_ids: Sequence[int],
    *,
    per_client: int | None = None,
    admin_only: bool = True,
) -> dict[int, list[ClientFile]]:
    """Each client's files, oldest first (without the admin-only ones unless `admin_only`);
    at most `per_client` each."""
    rows = await conn.fetch(
        first_of_each(
            f"""SELECT {_COLUMNS} FROM client_files
                 WHERE client_id = {{parent}} AND ($3 OR NOT admin_only) ORDER BY id"""
        ),
        list(client_ids),
        per_client,
        admin_only,
    )
    return grouped(rows, client_ids, lambda row: ClientFile(**dict(row)))


def may_see(viewer: Viewer | None, file: ClientFile) -> bool:
    """Staff who may view clients see every file; the client area sees its own client's files
    that are not admin-only: the account holder, and sub-accounts with PROFILE."""
    return (
        viewer is not None
        and (viewer.is_staff or not file.admin_only)
        and viewer.may_read_client(
            file.client_id, staff=STAFF_PERMISSION, client_area=CLIENT_AREA_PERMISSION
        )
    )
