"""Prometheus metrics, served at /metrics: HTTP requests, GraphQL operations, the database
pool, the worker's jobs, the outbox and the last daily automation run.

With `PROMETHEUS_MULTIPROC_DIR` set (`clientdesk serve --workers N` sets it), every process
writes its figures there and /metrics adds up all of them; otherwise it reports its own.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import platform
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from arq import Retry
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from app.logs import current_request
from domain.automation import runs
from domain.emails import log as email_log

log = logging.getLogger("clientdesk.metrics")


def _installed_version() -> str:
    try:
        return importlib.metadata.version("clientdesk")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"  # run from a folder that was never installed


REQUESTS = Counter(
    "clientdesk_http_requests_total", "HTTP requests served.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "clientdesk_http_request_duration_seconds", "Time to serve an HTTP request.", ["route"]
)
EMAILS_ENQUEUED = Counter("clientdesk_emails_enqueued_total", "Emails handed to the workers.")
CARD_SECRET_REFUSALS = Counter(
    "clientdesk_card_secret_refusals_total",
    "Card reveals refused for the card secret: wrong (compared, and wrong) or "
    "backing_off (refused uncompared after repeated wrong ones).",
    ["reason"],
)

OPERATION_LABELS = ["operation", "type"]
OPERATIONS = Counter(
    "clientdesk_graphql_operations_total", "GraphQL operations run.", OPERATION_LABELS
)
OPERATION_ERRORS = Counter(
    "clientdesk_graphql_operation_errors_total",
    "GraphQL operations answered with at least one error (not payload user errors).",
    OPERATION_LABELS,
)
OPERATION_LATENCY = Histogram(
    "clientdesk_graphql_operation_duration_seconds",
    "Time to parse, validate and execute a GraphQL operation.",
    OPERATION_LABELS,
)

POOL_SIZE = Gauge(
    "clientdesk_db_pool_connections",
    "Open connections of the database pool.",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_IN_USE = Gauge(
    "clientdesk_db_pool_connections_in_use",
    "Connections of the database pool lent out right now.",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_WAITS = Counter(
    "clientdesk_db_pool_waits_total",
    "Acquisitions that found every connection of the pool in use and had to wait.",
    ["pool"],
)
POOL_WAIT_SECONDS = Histogram(
    "clientdesk_db_pool_wait_seconds", "How long those acquisitions waited.", ["pool"]
)

JOBS = Counter(
    "clientdesk_worker_jobs_total",
    "Worker jobs run, by function and outcome (complete, retried, failed).",
    ["function", "outcome"],
)
JOB_LATENCY = Histogram(
    "clientdesk_worker_job_duration_seconds", "Time a worker job ran.", ["function"]
)

# Which code answers: one series per process, its value 1, to tell versions apart during a
# rolling upgrade and to join with the other series (`* on(instance) group_left(version)`).
BUILD_INFO = Gauge(
    "clientdesk_build_info",
    "The clientdesk version and Python version of this process (always 1).",
    ["version", "python"],
    multiprocess_mode="max",
)
BUILD_INFO.labels(_installed_version(), platform.python_version()).set(1)

# Operation names come from clients. Only operations the schema validated are named (any
# other is "unvalidated"), and a bounded number of names become label values, of which
# anonymous requests may take only a few: nobody can make the metrics grow without end, and
# an anonymous sender of made-up names cannot use up the names of the real clients.
MAX_OPERATION_NAMES = 300
MAX_ANONYMOUS_OPERATION_NAMES = 50
_operation_names: set[str] = set()
_anonymous_operation_names: set[str] = set()


def operation_label(name: str | None, *, validated: bool, anonymous: bool) -> str:
    if not validated:
        return "unvalidated"
    if name is None:
        return "anonymous"
    if name in _operation_names:
        return name
    if anonymous and len(_anonymous_operation_names) >= MAX_ANONYMOUS_OPERATION_NAMES:
        return "other"
    if len(_operation_names) >= MAX_OPERATION_NAMES:
        return "other"
    _operation_names.add(name)
    if anonymous:
        _anonymous_operation_names.add(name)
    return name


class ObserveOperations(SchemaExtension):
    """Counts and times each GraphQL operation, and names it and its viewer in the logs."""

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except RuntimeError:  # no document, or no operation of that name
            kind = "unknown"
        request = current_request.get()
        label = operation_label(
            context.operation_name,
            validated=kind != "unknown" and not context.pre_execution_errors,
            anonymous=request is None or request.viewer_kind in (None, "ANONYMOUS"),
        )
        labels = (label, kind)
        OPERATIONS.labels(*labels).inc()
        OPERATION_LATENCY.labels(*labels).observe(time.perf_counter() - started)
        result = context.result
        if context.pre_execution_errors or (result is not None and result.errors):
            OPERATION_ERRORS.labels(*labels).inc()

    async def on_execute(self) -> AsyncIterator[None]:
        request = current_request.get()
        if request is not None:
            request.operation = self.execution_context.operation_name
            # The permission checks load the viewer anyway; loading it first names it in
            # every line this operation logs.
            try:
                viewer = await self.execution_context.context.get_viewer()
            except Exception:
                # The resolvers meet the same failure and report it, masked, with the id.
                request.viewer_kind = "UNKNOWN"
            else:
                request.viewer_kind = viewer.kind.value if viewer else "ANONYMOUS"
        yield


def measured_job(
    coroutine: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The same arq job, counted and timed under its own name."""
    name = coroutine.__qualname__

    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await coroutine(ctx, *args, **kwargs)
            outcome = "complete"
            return result
        except Retry:
            outcome = "retried"
            raise
        finally:
            JOBS.labels(name, outcome).inc()
            JOB_LATENCY.labels(name).observe(time.perf_counter() - started)

    return run


# The outbox as PostgreSQL sees it, read at scrape time: it holds for every API and worker
# process at once, where per-process counters would each see only their share.
OUTBOX_DEPTH = Gauge(
    "clientdesk_email_outbox_depth",
    "Emails not sent yet and not given up on (queued).",
    multiprocess_mode="mostrecent",
)
EMAILS_SENT = Gauge(
    "clientdesk_emails_sent",
    "Emails sent, as kept in the email log.",
    multiprocess_mode="mostrecent",
)
EMAILS_FAILED = Gauge(
    "clientdesk_emails_failed",
    "Emails given up on (FAILED), waiting for staff to requeue them.",
    multiprocess_mode="mostrecent",
)


# The last finished automation run, read from its record at scrape time: whichever worker
# ran it, every API process reports the same figures.
AUTOMATION_COUNTS = Gauge(
    "clientdesk_automation_last_run_count",
    "What the last finished daily automation run counted, by count name.",
    ["name"],
    multiprocess_mode="mostrecent",
)
AUTOMATION_STEP_SECONDS = Gauge(
    "clientdesk_automation_last_run_step_seconds",
    "How long each step of the last finished daily automation run took.",
    ["step"],
    multiprocess_mode="mostrecent",
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


def current_metrics() -> bytes:
    """This process's figures, or every process's when they share a multiprocess folder."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)


async def _read_outbox_figures(request: Request) -> None:
    try:
        async with request.app.state.services.pool.acquire(timeout=2) as conn:
            figures = await email_log.outbox_figures(conn)
            last_run = await runs.last_finished_run(conn)
    except Exception as error:  # the other metrics are still worth serving without them
        log.warning("outbox and automation figures unavailable: %r", error)
        return
    OUTBOX_DEPTH.set(figures.pending)
    EMAILS_SENT.set(figures.sent)
    EMAILS_FAILED.set(figures.failed)
    if last_run is not None:
        for name in runs.COUNT_NAMES:
            AUTOMATION_COUNTS.labels(name).set(last_run.count(name))
        for step, seconds in last_run.durations.items():
            AUTOMATION_STEP_SECONDS.labels(step).set(seconds)


async def metrics_endpoint(request: Request) -> Response:
    await _read_outbox_figures(request)
    return Response(current_metrics(), media_type=CONTENT_TYPE_LATEST)
