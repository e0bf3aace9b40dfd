"""The daily automation as arq jobs (SPEC 9, 9.6).

`start_daily_automation` runs every minute on one worker (arq gives each cron run a job id
of its name and time). From the configured time of day in the installation's time zone, it
hands today's run to the workers as a job whose id is made of the date, unless the run is
finished: while that job waits or runs, handing it over again is a no-op, and the run record
in PostgreSQL makes a second run of a date find the work done. A worker killed half-way
leaves its job to arq, which runs it again later; a worker starting up finishes such a run
at once (`finish_cut_short_runs`). Either way the run resumes after its last committed
step. Checking every minute rather than at one cron time also starts a run missed while no
worker was up, and follows a change of the time of day without restarting the workers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from arq.connections import ArqRedis

from domain.automation import runs
from domain.automation.settings import get_automation_settings
from workers.email import WorkerResources

RUN_AUTOMATION = "run_automation"


def automation_job_id(as_of: date) -> str:
    return f"automation:{as_of.isoformat()}"


async def enqueue_automation_run(redis: ArqRedis, as_of: date) -> None:
    """Hand the run of `as_of` to the workers (a no-op while its job waits or runs)."""
    await redis.enqueue_job(RUN_AUTOMATION, as_of.isoformat(), _job_id=automation_job_id(as_of))


async def run_automation(ctx: dict[str, Any], as_of: str) -> dict[str, int]:
    """Run, finish or find done the daily run of `as_of`; its counts are the job's result."""
    resources: WorkerResources = ctx["resources"]
    async with resources.session_pool.acquire() as conn:
        run = await runs.perform_run(conn, date.fromisoformat(as_of), resources.automation)
    return run.counts


async def start_daily_automation(ctx: dict[str, Any]) -> str | None:
    """Hand today's run to the workers once its time has come; the date handed over, if any."""
    resources: WorkerResources = ctx["resources"]
    async with resources.pool.acquire() as conn:
        settings = await get_automation_settings(conn)
        now = datetime.now(settings.zone)
        if now.time() < settings.run_at:
            return None
        run = await runs.get_run(conn, now.date())
    if run is not None and run.finished_at is not None:
        return None
    await enqueue_automation_run(ctx["redis"], now.date())
    return now.date().isoformat()


async def finish_cut_short_runs(ctx: dict[str, Any]) -> list[str]:
    """Finish runs a killed worker left half-done (at start-up, then every few minutes)."""
    resources: WorkerResources = ctx["resources"]
    async with resources.session_pool.acquire() as conn:
        finished = await runs.finish_cut_short_runs(conn, resources.automation)
    return [day.isoformat() for day in finished]
