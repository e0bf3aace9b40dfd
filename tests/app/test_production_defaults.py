"""Defaults sized for production: one API process per core, access lines off or sampled, the
embedded PostgreSQL's shared buffers sized for the machine, and a serving process's start-up
objects kept out of the garbage collector's walks."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from typer.testing import CliRunner

import app.main
import app.server
from app.cli import cli
from app.collector import YOUNG_THRESHOLD
from app.devservices import shared_buffers_mb
from app.server import ServerConfig, usable_cores
from app.settings import Settings
from app.web import RequestIdMiddleware
from app.worker import automation_tools


def test_serve_runs_one_process_per_core_unless_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[int] = []

    def serve(config: ServerConfig) -> bool:
        started.append(config.workers)
        return True

    monkeypatch.setattr(app.server, "serve", serve)
    monkeypatch.setattr(app.server, "startup_problem", lambda settings: None)  # no database here
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.invalid/clientdesk")
    monkeypatch.setenv("REDIS_URL", "redis://redis.invalid")
    # Several processes share their metrics through a folder the command names.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert CliRunner().invoke(cli, ["serve"]).exit_code == 0
    assert CliRunner().invoke(cli, ["serve", "--workers", "3"]).exit_code == 0
    assert started == [usable_cores(), 3]
    assert usable_cores() >= 1


def test_a_serving_process_keeps_its_start_up_objects_out_of_collections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.invalid/clientdesk")
    monkeypatch.setenv("REDIS_URL", "redis://redis.invalid")
    monkeypatch.setattr(app.main, "configure_logging", lambda *args: None)  # the test's own
    threshold = gc.get_threshold()
    try:
        served = app.main.create_app_from_env()
        # The schema the app was built with is among the objects no collection walks again.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *threshold[1:])
        assert isinstance(served, Starlette)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_access_lines_are_off_in_production_and_on_in_development() -> None:
    assert Settings(_env_file=None, environment="production").access_log_share == 0
    assert Settings(_env_file=None, environment="development").access_log_share == 1
    sampled = Settings(_env_file=None, environment="production", access_log=0.01)
    assert sampled.access_log_share == 0.01


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "clientdesk.access"]


async def requests(share: float, paths: list[str]) -> None:
    async def answer(request: Request) -> PlainTextResponse:
        return PlainTextResponse("", status_code=int(request.path_params["status"]))

    inner = Starlette(routes=[Route("/{status:int}", answer)])
    wrapped: Any = RequestIdMiddleware(inner, access_log_share=share)
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for path in paths:
            await client.get(path)


async def test_unsampled_requests_get_no_access_line_but_server_errors_always_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="clientdesk.access")
    await requests(0.0, ["/200", "/404", "/500", "/200"])
    assert access_lines(caplog) == ["GET /500 500"]
    caplog.clear()
    await requests(1.0, ["/200", "/404"])
    assert access_lines(caplog) == ["GET /200 200", "GET /404 404"]


def test_shared_buffers_are_a_quarter_of_memory_within_bounds() -> None:
    assert 128 <= shared_buffers_mb() <= 8192


async def test_the_embedded_postgresql_runs_with_shared_buffers_sized_for_the_machine(
    conn: asyncpg.Connection,
) -> None:
    assert await conn.fetchval("SHOW shared_buffers") == f"{shared_buffers_mb()}MB"


def test_13_1_the_test_gateway_is_never_loaded_in_production(settings: Settings) -> None:
    production = settings.model_copy(update={"environment": "production"})

    assert automation_tools(production).gateways == {}
    assert list(automation_tools(settings).gateways) == ["testcard"]
