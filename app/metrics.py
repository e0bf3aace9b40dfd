"""Prometheus metrics of the API process, served at /metrics."""

from __future__ import annotations

import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.emails import outbox

log = logging.getLogger("clientdesk.metrics")

REQUESTS = Counter(
    "clientdesk_http_requests_total", "HTTP requests served.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "clientdesk_http_request_duration_seconds", "Time to serve an HTTP request.", ["route"]
)
EMAILS_ENQUEUED = Counter("clientdesk_emails_enqueued_total", "Emails handed to the workers.")

# The outbox as PostgreSQL sees it, read at scrape time: it holds for every API and worker
# process at once, where per-process counters would each see only their share.
OUTBOX_DEPTH = Gauge(
    "clientdesk_email_outbox_depth", "Emails not sent yet and not given up on (queued)."
)
EMAILS_SENT = Gauge("clientdesk_emails_sent", "Emails sent, as kept in the email log.")
EMAILS_FAILED = Gauge(
    "clientdesk_emails_failed", "Emails given up on (FAILED), waiting for staff to requeue them."
)


class MetricsMiddleware:
    """Counts and times requests per route template (not per URL, to bound label values)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            REQUESTS.labels(scope["method"], name, str(status)).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)


async def _read_outbox_figures(request: Request) -> None:
    try:
        async with request.app.state.services.pool.acquire(timeout=2) as conn:
            figures = await outbox.outbox_figures(conn)
    except Exception as error:  # the other metrics are still worth serving without them
        log.warning("outbox figures unavailable: %r", error)
        return
    OUTBOX_DEPTH.set(figures.pending)
    EMAILS_SENT.set(figures.sent)
    EMAILS_FAILED.set(figures.failed)


async def metrics_endpoint(request: Request) -> Response:
    await _read_outbox_figures(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
