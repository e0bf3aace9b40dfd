"""`GET /invoices/{id}.pdf`: an invoice's PDF, to whom may read the invoice.

`id` is the invoice's global id, as `invoice(id)` takes it. Authenticated as every download
is (app/downloads.py); staff who may view clients (the permission of `invoice(id)`), the
account holder, and its sub-accounts granted INVOICES get it. Anyone else gets 404, as for
an invoice that does not exist, so that ids cannot be probed.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from app.downloads import content_disposition, download_viewer, not_found
from domain.auth.viewer import Viewer
from domain.billing.documents import invoice_documents, may_read_invoice
from domain.billing.pdf import render_invoice_pdf
from resolvers.context import AppServices
from resolvers.inputs import parse_id


async def download_invoice_pdf(request: Request) -> Response:
    services: AppServices = request.app.state.services
    invoice_id = parse_id(request.path_params["id"], "Invoice")
    async with services.pool.acquire() as conn:
        viewer = await download_viewer(request, services, conn)
        if not isinstance(viewer, Viewer):
            return viewer
        found = await invoice_documents(conn, [invoice_id]) if invoice_id else {}
    document = found.get(invoice_id) if invoice_id else None
    if document is None or not may_read_invoice(viewer, document.invoice.client_id):
        return not_found("Invoice")
    # Drawing takes a few tens of milliseconds: off the event loop, as other requests wait.
    pdf = await asyncio.to_thread(render_invoice_pdf, document)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(document.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
