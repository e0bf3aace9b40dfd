"""Building the arq worker with this installation's connections."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker, create_worker

from app.db import create_pool
from app.metrics import measured_job
from app.settings import Settings
from domain.emails.templates import TemplateRenderer
from workers.email import WorkerResources
from workers.mailer import Mailer
from workers.settings import WorkerSettings


def build_worker(settings: Settings, *, burst: bool = False, **overrides: Any) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["resources"] = WorkerResources(
            pool=await create_pool(
                settings.database_url,
                min_size=1,
                max_size=4,
                mail_domain=settings.message_id_domain,
                name="worker",
            ),
            renderer=TemplateRenderer(settings.email_templates_dir),
            mailer=Mailer.from_url(settings.smtp_url),
            mail_from=settings.mail_from,
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        resources: WorkerResources | None = ctx.get("resources")
        if resources is not None:
            await resources.pool.close()

    options: dict[str, Any] = {
        # Every job is counted and timed for /metrics under its own name.
        "functions": [measured_job(function) for function in WorkerSettings.functions],
        # arq keeps a cron job's next run on the CronJob object of the settings class; fresh
        # copies make `run_at_startup` hold for every worker built here, not only the first.
        "cron_jobs": [
            replace(job, next_run=None, coroutine=measured_job(job.coroutine))
            for job in WorkerSettings.cron_jobs
        ],
        **overrides,
    }
    return create_worker(
        WorkerSettings,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        burst=burst,
        **options,
    )
