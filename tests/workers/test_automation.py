"""SPEC 9.6 with real arq workers: the run goes through a worker, once per date however many
workers run it, and the API waits for it; /metrics shows the last run."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta

import asyncpg
import httpx
from arq import create_pool as create_arq_pool
from arq.connections import ArqRedis, RedisSettings
from prometheus_client import REGISTRY

from app.settings import Settings
from app.web import create_app
from app.worker import build_worker
from tests.conftest import add_client, gql
from tests.domain.test_automation import unpaid_invoice
from workers.automation import RUN_AUTOMATION

TODAY = date.today()


@asynccontextmanager
async def workers(settings: Settings, count: int) -> AsyncIterator[None]:
    """`count` arq workers on the suite's Redis and database, running until the block ends."""
    running = [build_worker(settings, handle_signals=False, poll_delay=0.05) for _ in range(count)]
    tasks = [asyncio.create_task(worker.main()) for worker in running]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for worker in running:
            worker.handle_sig(signal.SIGUSR1)  # cancels the jobs it runs
        jobs = [job for worker in running for job in worker.tasks.values()]
        await asyncio.gather(*tasks, *jobs, return_exceptions=True)
        for worker in running:
            # arq's close() awaits the cancelled jobs again without return_exceptions: a job
            # cancelled before its own try block would raise CancelledError out of it.
            worker.tasks.clear()
            await worker.close()


@asynccontextmanager
async def arq_redis(settings: Settings) -> AsyncIterator[ArqRedis]:
    redis = await create_arq_pool(RedisSettings.from_dsn(settings.redis_url))
    try:
        yield redis
    finally:
        await redis.aclose()


def completed_runs() -> float:
    """Run jobs the workers of this process have completed (as /metrics counts them)."""
    value = REGISTRY.get_sample_value(
        "clientdesk_worker_jobs_total", {"function": "run_automation", "outcome": "complete"}
    )
    return value or 0.0


async def until(condition: Callable[[], Awaitable[object]]) -> None:
    async with asyncio.timeout(20):
        while not await condition():  # noqa: ASYNC110 -- the database signals nothing
            await asyncio.sleep(0.05)


async def test_9_6_two_workers_given_one_date_twice_make_one_run_and_one_email_per_notice(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        for n in range(3):
            client = await add_client(conn, email=f"client{n}@example.com")
            await unpaid_invoice(conn, client, TODAY + timedelta(days=7))

    async with workers(settings, 2), arq_redis(settings) as redis:
        # Distinct job ids, so arq does not fold them into one: both workers really run it.
        before = completed_runs()
        for n in range(2):
            await redis.enqueue_job(RUN_AUTOMATION, TODAY.isoformat(), _job_id=f"twice:{n}")

        async def both_ran() -> bool:
            return completed_runs() == before + 2

        await until(both_ran)

    [run] = await pool.fetch("SELECT counts, finished_at FROM automation_runs")
    assert run["counts"]["reminders_sent"] == 3 and run["finished_at"] is not None
    keys = await pool.fetch("SELECT dedupe_key FROM emails")
    assert len(keys) == 3 == len({row["dedupe_key"] for row in keys})


async def test_9_6_run_automation_waits_for_the_worker_and_metrics_show_the_run(
    settings: Settings, pool: asyncpg.Pool, admin_token: str
) -> None:
    async with pool.acquire() as conn:
        client = await add_client(conn)
        await unpaid_invoice(conn, client, TODAY - timedelta(days=1))
    waiting = settings.model_copy(update={"automation_wait_seconds": 30})
    app = create_app(waiting)
    document = """mutation Run($asOf: Date) { runAutomation(asOf: $asOf) {
        run { asOf finishedAt overdueNoticesSent clientsDeactivated steps { step } }
        errors { code } } }"""

    async with (
        workers(settings, 1),
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as api,
    ):
        first = await gql(api, document, {"asOf": TODAY.isoformat()}, token=admin_token)
        again = await gql(api, document, {"asOf": TODAY.isoformat()}, token=admin_token)
        metrics = (await api.get("/metrics")).text

    payload = first["data"]["runAutomation"]
    assert payload["errors"] == []
    assert payload["run"]["overdueNoticesSent"] == 1
    assert payload["run"]["clientsDeactivated"] == 1
    assert payload["run"]["steps"][0] == {"step": "carry_out_cancellations"}
    assert again["data"]["runAutomation"] == payload  # the date is not run twice
    assert 'clientdesk_automation_last_run_count{name="overdue_notices_sent"} 1.0' in metrics
    assert 'clientdesk_automation_last_run_step_seconds{step="send_notices"}' in metrics


async def test_9_6_a_worker_hands_today_over_once_its_time_has_come(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await add_client(conn)
        await conn.execute(
            """INSERT INTO settings (key, value) VALUES ('automation', '{"run_at": "00:00"}')"""
        )
    scheduled = settings.model_copy(update={"automation_schedule": True})

    async with workers(scheduled, 2):
        await until(
            lambda: pool.fetchval(
                "SELECT count(*) FROM automation_runs WHERE finished_at IS NOT NULL"
            )
        )

    [run] = await pool.fetch("SELECT as_of FROM automation_runs")
    assert run["as_of"] in {TODAY, TODAY + timedelta(days=1)}  # UTC may have turned the day
    assert await pool.fetchval("SELECT status FROM clients") == "INACTIVE"
