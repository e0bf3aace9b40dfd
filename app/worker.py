"""Building the arq worker with this installation's connections, and keeping one running.

arq's worker ends on the first lost Redis connection, and its start-up needs PostgreSQL.
`run_worker` therefore rebuilds the worker after any error, with a backoff, so an outage of
either only pauses the work: Redis holds nothing the relay cannot rebuild from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
from arq.connections import RedisSettings
from arq.constants import default_queue_name, health_check_key_suffix
from arq.worker import Worker, async_check_health, create_worker
from redis.exceptions import RedisError

from app.db import create_pool
from app.metrics import measured_job
from app.settings import Settings
from domain.automation.runs import RunTools
from domain.billing.gateways import loaded_gateways
from domain.emails.outbox import RetryPolicy
from domain.emails.rendering import TemplateRenderer
from workers.email import WorkerResources
from workers.mailer import Mailer
from workers.settings import WorkerSettings, cron_jobs

log = logging.getLogger("clientdesk.worker")

# Waits between rebuilds of a worker that failed: doubling from the first to the last.
RESTART_DELAY_FIRST = 0.5
RESTART_DELAY_MAX = 15.0
# A worker that ran this long before failing was healthy: the next wait starts short again.
HEALTHY_RUN_SECONDS = 60.0
# A running worker writes its health key this often, and the key lives one second longer: a
# worker that stopped polling (hung, or cut off from Redis) fails `worker --check` soon after.
HEALTH_CHECK_INTERVAL_SECONDS = 10


def health_check_key() -> str:
    """The Redis key this host's worker keeps alive: one per host (container), not arq's one
    per queue, so one dead worker among several is not hidden by the others."""
    return f"{default_queue_name}{health_check_key_suffix}:{socket.gethostname()}"


async def worker_is_healthy(settings: Settings) -> bool:
    """Whether a worker on this host recorded its health lately (`clientdesk worker --check`).
    An unreachable Redis is an unhealthy worker too: it cannot take jobs."""
    redis = replace(RedisSettings.from_dsn(settings.redis_url), conn_retries=0, conn_timeout=3)
    try:
        return await async_check_health(redis, health_check_key()) == 0
    except (OSError, RedisError) as error:
        log.warning("worker health check: Redis unreachable: %r", error)
        return False


def worker_resources(
    settings: Settings, pool: asyncpg.Pool, session_pool: asyncpg.Pool | None = None
) -> WorkerResources:
    return WorkerResources(
        pool=pool,
        session_pool=pool if session_pool is None else session_pool,
        renderer=TemplateRenderer(settings.email_templates_dir),
        mailer=Mailer.from_url(
            settings.smtp_url,
            timeout=settings.smtp_timeout_seconds,
            connections=settings.smtp_connections,
        ),
        mail_from=settings.mail_from,
        retry=RetryPolicy(
            max_attempts=settings.email_max_attempts,
            base_seconds=settings.email_retry_base_seconds,
            cap_seconds=settings.email_retry_cap_seconds,
        ),
        relay_after_seconds=settings.email_relay_interval_seconds,
        attempt_lease_seconds=settings.worker_job_timeout_seconds,
        automation=automation_tools(settings),
        event_retention=timedelta(hours=settings.event_retention_hours),
    )


def automation_tools(settings: Settings) -> RunTools:
    return RunTools(
        # The test gateway is never loaded in production (SPEC 13.1), so nothing there is
        # captured by it even if its row is turned on.
        gateways=loaded_gateways(production=settings.environment == "production"),
        card_keyring=settings.card_keyring(),
        client_area_url=settings.client_area_base_url,
    )


async def _close_resources(ctx: dict[str, Any]) -> None:
    resources: WorkerResources | None = ctx.pop("resources", None)
    if resources is not None:
        await resources.mailer.close()
        await resources.pool.close()
        if resources.session_pool is not resources.pool:
            await resources.session_pool.close()


def build_worker(settings: Settings, *, burst: bool = False, **overrides: Any) -> Worker:
    Mailer.from_url(settings.smtp_url)  # a wrong SMTP_URL fails here, not in every job

    async def startup(ctx: dict[str, Any]) -> None:
        pool = await create_pool(
            settings.database_url,
            min_size=1,
            # A connection for every job that may run at once, and one for the cron jobs.
            max_size=settings.worker_max_jobs + 1,
            mail_domain=settings.message_id_domain,
            name="worker",
            statement_cache_size=settings.database_statement_cache_size,
        )
        session_pool = None
        if settings.direct_database_url != settings.database_url:
            # The daily run and the finishing of cut-short runs: two jobs, one at a time each.
            session_pool = await create_pool(
                settings.direct_database_url,
                min_size=0,
                max_size=2,
                mail_domain=settings.message_id_domain,
                name="worker_session",
            )
        ctx["resources"] = worker_resources(settings, pool, session_pool)

    options: dict[str, Any] = {
        # Every job is counted and timed for /metrics under its own name.
        "functions": [
            replace(function, coroutine=measured_job(function.coroutine))
            for function in WorkerSettings.functions
        ],
        # Fresh cron jobs per worker: arq keeps a cron job's next run on the CronJob object,
        # and `run_at_startup` must hold for every worker built here, not only the first.
        "cron_jobs": [
            replace(job, coroutine=measured_job(job.coroutine))
            for job in cron_jobs(
                settings.email_relay_interval_seconds,
                automation_schedule=settings.automation_schedule,
            )
        ],
        "job_timeout": settings.worker_job_timeout_seconds,
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": settings.worker_poll_delay_seconds,
        "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        "health_check_key": health_check_key(),
        **overrides,
    }
    return create_worker(
        WorkerSettings,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=_close_resources,
        burst=burst,
        **options,
    )


async def run_worker(settings: Settings, *, burst: bool = False, **overrides: Any) -> None:
    """Run a worker until SIGINT/SIGTERM (or, with `burst`, until the queue is empty).

    Whatever ends a worker early (Redis or PostgreSQL gone, at start or later) is logged and
    a new worker is built after a backoff; it never ends the process. A signal stops the
    current worker the way arq does: running jobs are cancelled and queued again."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, main.cancel)
    delay = RESTART_DELAY_FIRST
    try:
        while True:
            worker = build_worker(settings, burst=burst, handle_signals=False, **overrides)
            started = time.monotonic()
            try:
                await worker.async_run()
                return
            except Exception:
                log.exception("worker stopped on an error; a new one starts in %.1f s", delay)
            finally:
                await _close_worker(worker)
            if time.monotonic() - started > HEALTHY_RUN_SECONDS:
                delay = RESTART_DELAY_FIRST
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_DELAY_MAX)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _close_worker(worker: Worker) -> None:
    """Close a worker even when Redis is gone, which makes arq's close stop half-way."""
    try:
        await worker.close()
    except Exception as error:
        log.warning("closing the worker: %r", error)
    await _close_resources(worker.ctx)
