"""Observability: JSON log lines that name the request, operation, viewer and duration;
/metrics per GraphQL operation, for the database pool and for worker jobs, across the
processes of `serve --workers N`; OpenTelemetry tracing only when an endpoint is set."""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import asyncpg
import httpx
import pytest

import domain.settings
from app import db
from app.devservices import free_port
from app.logs import configure_logging
from app.settings import Settings
from tests.api.test_serving import serve
from tests.conftest import gql

WHO = "query Who { viewer { email kind } }"
SETTINGS_QUERY = "query ReadSettings { generalSettings { clientDisplayFormat } }"


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of Prometheus text, 0 when absent."""
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            if all(found.get(key) == value for key, value in labels.items()):
                return float(match.group(2))
    return 0.0


async def scrape(api: httpx.AsyncClient) -> str:
    return (await api.get("/metrics")).text


@pytest.fixture
def json_log_lines() -> Iterator[io.StringIO]:
    """Log as `LOG_FORMAT=json` does, into a buffer; pytest's own handlers come back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("json", "INFO")
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


async def test_json_log_lines_name_the_request_operation_viewer_and_duration(
    api: httpx.AsyncClient,
    admin_token: str,
    json_log_lines: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(conn: asyncpg.Connection) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(domain.settings, "get_general_settings", broken)
    response = await api.post(
        "/graphql",
        json={"query": SETTINGS_QUERY},
        headers={"Authorization": f"Bearer {admin_token}", "X-Request-ID": "req-42"},
    )
    assert response.json()["errors"][0]["message"] == "Internal error."

    lines = [json.loads(line) for line in json_log_lines.getvalue().splitlines()]
    mine = [line for line in lines if line["request_id"] == "req-42"]
    # The error logged mid-request and the access line at its end both say who and what.
    assert {line["logger"] for line in mine} == {"clientdesk.graphql", "clientdesk.access"}
    for line in mine:
        assert line["operation"] == "ReadSettings"
        assert line["viewer_kind"] == "STAFF"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    [error] = [line for line in mine if line["level"] == "ERROR"]
    assert "the database fell over" in error["exception"]
    [access] = [line for line in mine if line["logger"] == "clientdesk.access"]
    assert (access["method"], access["path"], access["status"]) == ("POST", "/graphql", 200)
    assert all(set(line) >= {"time", "level", "message", "request_id"} for line in lines)


async def test_an_anonymous_request_is_logged_as_such(
    api: httpx.AsyncClient, json_log_lines: io.StringIO
) -> None:
    await gql(api, WHO)
    [access] = [
        json.loads(line)
        for line in json_log_lines.getvalue().splitlines()
        if '"clientdesk.access"' in line
    ]
    assert (access["operation"], access["viewer_kind"]) == ("Who", "ANONYMOUS")


async def test_metrics_count_time_and_count_errors_per_graphql_operation(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    before = await scrape(api)
    await gql(api, WHO, token=admin_token)
    await gql(api, WHO, token=admin_token)
    await gql(api, "query Broken { noSuchField }", allow_errors=True)
    after = await scrape(api)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    who = {"operation": "Who", "type": "query"}
    assert grew("clientdesk_graphql_operations_total", **who) == 2
    assert grew("clientdesk_graphql_operation_errors_total", **who) == 0
    assert grew("clientdesk_graphql_operation_duration_seconds_count", **who) == 2
    assert grew("clientdesk_graphql_operation_duration_seconds_sum", **who) > 0
    broken = {"operation": "unvalidated", "type": "query"}  # its name is the client's word
    assert grew("clientdesk_graphql_operations_total", **broken) == 1
    assert grew("clientdesk_graphql_operation_errors_total", **broken) == 1


async def test_operation_names_from_clients_cannot_grow_the_metrics_without_end(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import metrics

    monkeypatch.setattr(metrics, "_operation_names", set())
    monkeypatch.setattr(metrics, "MAX_OPERATION_NAMES", 2)
    for name in ("One", "Two", "Three", "Four"):
        await gql(api, f"query {name} {{ viewer {{ email }} }}")
    text = await scrape(api)
    assert sample(text, "clientdesk_graphql_operations_total", operation="Three") == 0
    assert sample(text, "clientdesk_graphql_operations_total", operation="other") >= 2


async def test_the_database_pool_reports_its_size_connections_in_use_and_waits(
    settings: Settings,
) -> None:
    from prometheus_client import generate_latest

    pool = await db.create_pool(settings.database_url, min_size=1, max_size=1, name="probe")

    def value(name: str) -> float:
        return sample(generate_latest().decode(), name, pool="probe")

    try:
        assert value("clientdesk_db_pool_connections") == 1
        first = await pool.acquire()
        assert value("clientdesk_db_pool_connections_in_use") == 1
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await pool.release(first)
        second = await asyncio.wait_for(waiting, 5)
        assert value("clientdesk_db_pool_waits_total") == 1
        assert value("clientdesk_db_pool_wait_seconds_sum") >= 0.04
        await pool.release(second)
        assert value("clientdesk_db_pool_connections_in_use") == 0
    finally:
        await pool.close()


async def test_worker_jobs_are_counted_and_timed_per_function(
    api: httpx.AsyncClient, admin_token: str, run_worker: Any
) -> None:
    before = await scrape(api)
    await gql(
        api,
        'mutation { addClient(input: {firstName: "Jo", lastName: "B", email: "jo@example.com"})'
        " { errors { message } } }",
        token=admin_token,
    )
    await run_worker()
    after = await scrape(api)
    labels = {"function": "send_emails", "outcome": "complete"}
    assert (
        sample(after, "clientdesk_worker_jobs_total", **labels)
        - sample(before, "clientdesk_worker_jobs_total", **labels)
        == 1
    )
    timed = "clientdesk_worker_job_duration_seconds_count"
    assert sample(after, timed, function="send_emails") > sample(
        before, timed, function="send_emails"
    )
    # Periodic jobs are measured under their own name too (the relay runs at start-up).
    assert sample(after, "clientdesk_worker_jobs_total", function="relay_outbox") >= 1


async def test_serve_with_two_workers_reports_every_process_in_metrics(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Any
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PORT": str(port),
        "DB_POOL_MIN": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    server = subprocess.Popen(  # noqa: ASYNC220 (stopped in `finally`, never awaited)
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            text = ""
            for _ in range(300):  # both processes up, each with its pool of 2 open
                await asyncio.sleep(0.1)
                try:
                    text = (await client.get("/metrics")).text
                except httpx.TransportError:
                    continue
                if sample(text, "clientdesk_db_pool_connections", pool="api") == 4:
                    break
            assert sample(text, "clientdesk_db_pool_connections", pool="api") == 4, text
            for _ in range(10):
                await client.get("/healthz")
            text = (await client.get("/metrics")).text
        healthz = {"method": "GET", "route": "/healthz", "status": "200"}
        assert sample(text, "clientdesk_http_requests_total", **healthz) == 10
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def test_tracing_is_off_by_default_and_its_packages_are_not_imported() -> None:
    script = (
        "import sys; from app.graphql import build_schema; from app.settings import Settings;"
        "schema = build_schema(Settings(_env_file=None));"
        "names = [getattr(e, 'func', e).__name__ for e in schema.extensions];"
        "print(names, any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "OpenTelemetryExtension" not in out and out.strip().endswith("False"), out


class CollectorHandler(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps what it is sent."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def test_tracing_sends_graphql_and_sql_spans_when_an_endpoint_is_set(
    settings: Settings, admin_token: str
) -> None:
    pytest.importorskip(
        "opentelemetry.sdk", reason="the otel extra is not installed: pip install -e '.[otel]'"
    )
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    from app.tracing import tracer_provider

    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (CollectorHandler,), {"received": received})
    collector = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_port}"
    traced = settings.model_copy(update={"otel_exporter_otlp_endpoint": endpoint})
    try:
        async with serve(traced) as api:
            query = "query TracedQuery { generalSettings { clientDisplayFormat } }"
            body = await gql(api, query, token=admin_token)
            assert "errors" not in body
        provider = tracer_provider(endpoint, traced.otel_service_name)
        assert provider.force_flush(10_000)
    finally:
        tracer_provider(endpoint, traced.otel_service_name).shutdown()
        AsyncPGInstrumentor().uninstrument()
        tracer_provider.cache_clear()
        collector.shutdown()
        collector.server_close()
    sent = b"".join(body for path, body in received if path == "/v1/traces")
    assert b"TracedQuery" in sent  # the GraphQL operation's span
    assert b"SELECT" in sent  # a SQL statement's span, from the asyncpg instrumentation
    assert b"clientdesk" in sent  # the service name


async def test_metrics_say_which_version_and_python_answer(api: httpx.AsyncClient) -> None:
    build = {"version": importlib.metadata.version("clientdesk"), "python": sys.version.split()[0]}
    assert sample(await scrape(api), "clientdesk_build_info", **build) == 1
