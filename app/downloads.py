"""`GET /files/{id}`: a client file's bytes, to whom may see the file (SPEC 6.2); and
`GET /ticket-attachments/{id}`, a ticket message's file (SPEC 15.1).

Authenticated like the API (`download_viewer`: a session's bearer token or an API key, or
the session cookie, which a GET may use); `GET /invoices/{id}.pdf` (app/invoice_pdfs.py) too.
A file the viewer may not see answers 404, as one that does not exist, so that ids cannot be
probed. The response makes browsers save the file rather than render it in our origin. The
bytes are streamed from the store a chunk at a time (`storage.CHUNK_BYTES`), whatever its size.
"""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import quote

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from app.graphql_codes import RATE_LIMITED
from domain.auth import api_keys, sessions
from domain.auth.viewer import Viewer
from domain.files import services as file_services
from domain.files.storage import MissingBytes
from domain.settings import get_general_settings
from domain.tickets import attachments as message_files
from resolvers.context import SESSION_COOKIE, AppServices
from resolvers.inputs import parse_id
from schema.common import TwoFactorRequired

log = logging.getLogger(__name__)


def content_disposition(filename: str) -> str:
    """`attachment` with the name twice (RFC 6266): an ASCII fallback for old clients, and
    the exact name in `filename*`, percent-encoded UTF-8, which cannot break the header."""
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _error(status: int, code: str, message: str, **headers: str) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
    )


async def download_viewer(
    request: Request, services: AppServices, conn: asyncpg.Connection
) -> Viewer | Response:
    """Who asks for a download, as the API authenticates (a bearer token, an API key, or the
    session cookie), or the response refusing them: 401 without a valid login, 429 for a key
    past its rate limit (SPEC 11.3), 403 for a staff session that may only set two-factor up
    (SPEC 11.2), as in the API."""
    header = request.headers.get("authorization", "")
    token = (
        header[7:].strip() if header.lower().startswith("bearer ") else None
    ) or request.cookies.get(SESSION_COOKIE)
    if token and api_keys.is_api_key_secret(token):
        viewer = await api_keys.viewer_for_secret(conn, token)
    else:
        viewer = await sessions.viewer_for_token(conn, token) if token else None
    if viewer is None:
        return _error(
            401, "UNAUTHENTICATED", "Log in to download files.", **{"WWW-Authenticate": "Bearer"}
        )
    if viewer.api_key_id is not None:
        await services.api_key_last_use.record(conn, viewer.api_key_id)
        wait = await services.api_key_rate_limit.wait_before(viewer.api_key_id)
        if wait is not None:
            message = f"This API key made too many requests. Try again in {wait} s."
            return _error(429, RATE_LIMITED, message, **{"Retry-After": str(wait)})
    if (
        viewer.staff_without_second_factor
        and (await get_general_settings(conn)).require_staff_two_factor
    ):
        return _error(403, TwoFactorRequired.CODE, TwoFactorRequired.MESSAGE)
    return viewer


def not_found(what: str) -> Response:
    """What a viewer gets for what does not exist and for what they may not see alike."""
    return _error(404, "NOT_FOUND", f"{what} not found.")


async def download_file(request: Request) -> Response:
    services: AppServices = request.app.state.services
    file_id = parse_id(request.path_params["id"], "ClientFile")
    async with services.pool.acquire() as conn:
        viewer = await download_viewer(request, services, conn)
        allowed = isinstance(viewer, Viewer)
        row = await file_services.get_file(conn, file_id) if allowed and file_id else None
    if not isinstance(viewer, Viewer):
        return viewer
    if row is None or not file_services.may_see(viewer, row):
        return not_found("File")
    return await _stream(services, f"client file {row.id}", row)


async def download_ticket_attachment(request: Request) -> Response:
    """`GET /ticket-attachments/{id}`: a ticket message's file, to whom reads the ticket
    (staff with VIEW_CLIENTS, the account holder, a sub-account with TICKETS), an internal
    note's to staff alone (SPEC 15.1)."""
    services: AppServices = request.app.state.services
    attachment_id = parse_id(request.path_params["id"], "TicketAttachment")
    async with services.pool.acquire() as conn:
        viewer = await download_viewer(request, services, conn)
        found = (
            await message_files.attachments_by_ids(conn, [attachment_id])
            if isinstance(viewer, Viewer) and attachment_id
            else {}
        )
    if not isinstance(viewer, Viewer):
        return viewer
    row = found.get(attachment_id or 0)
    if row is None or not message_files.may_see(viewer, row):
        return not_found("Attachment")
    return await _stream(services, f"ticket attachment {row.id}", row)


class _Stored(Protocol):
    """What a download needs of a stored file's row (a client file, a ticket attachment)."""

    @property
    def stored_name(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def size(self) -> int: ...


async def _stream(services: AppServices, what: str, row: _Stored) -> Response:
    """The bytes of a stored file, as an attachment under its name."""
    try:
        chunks = await services.files.open(row.stored_name)
    except MissingBytes:
        # An operator's problem (a store not moved, lost bytes), not the viewer's: logged.
        log.error(
            "%s: its bytes %s are missing from the %s store",
            what,
            row.stored_name,
            services.files.kind,
        )
        return not_found("File")
    return StreamingResponse(
        chunks,
        media_type=row.content_type,
        headers={
            "Content-Length": str(row.size),
            "Content-Disposition": content_disposition(row.filename),
            "X-Content-Type-Options": "nosniff",
            # Should a browser render it anyway, it runs nothing and reaches nothing.
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
