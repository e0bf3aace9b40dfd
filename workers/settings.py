"""arq worker settings: the jobs and the periodic schedule.

Connections are made by the composition root (`app.worker`), which passes the Redis
settings and a start-up hook that puts `WorkerResources` in the job context.
"""

from __future__ import annotations

from arq import cron
from arq.cron import CronJob
from arq.typing import WorkerSettingsBase
from arq.worker import Function, func

from workers.automation import finish_cut_short_runs, run_automation, start_daily_automation
from workers.email import relay_outbox, send_email, send_emails
from workers.maintenance import (
    purge_expired_idempotency_keys,
    purge_expired_sessions,
    purge_old_events,
)
from workers.resets import answer_reset_requests, relay_reset_requests


def cron_jobs(relay_interval_seconds: int, *, automation_schedule: bool = True) -> list[CronJob]:
    """The periodic jobs; the relays (of emails, of reset requests) run every
    `relay_interval_seconds` (1–60) and at start-up,
    the check whether the daily automation is due every minute and at start-up (unless
    `automation_schedule` is off).

    arq gives each cron run a job id made of its name and time, so a run happens once per
    schedule however many workers are running (SPEC 9.6)."""
    daily = [cron(start_daily_automation, second={30}, run_at_startup=True)]
    return [
        *(daily if automation_schedule else []),
        cron(
            relay_outbox,
            second=set(range(0, 60, relay_interval_seconds)),
            run_at_startup=True,
        ),
        cron(
            relay_reset_requests,
            second=set(range(0, 60, relay_interval_seconds)),
            run_at_startup=True,
        ),
        cron(purge_expired_sessions, hour={3}, minute={17}, second={0}),
        cron(purge_expired_idempotency_keys, minute={41}, second={0}),
        cron(purge_old_events, minute={11}, second={0}),
        cron(finish_cut_short_runs, minute=set(range(0, 60, 5)), second={15}, run_at_startup=True),
    ]


class WorkerSettings(WorkerSettingsBase):
    # No result is kept for an email job: the outbox row records the outcome.
    functions: list[Function] = [
        func(send_emails, keep_result=0),
        # The job of earlier versions, for what they left queued.
        func(send_email, keep_result=0),
        # A reset request's outcome would say whether its address has a login: none kept.
        func(answer_reset_requests, keep_result=0),
        # The run record keeps the outcome; without a kept result a date can be handed over
        # again (and is found done).
        func(run_automation, keep_result=0),
    ]
    # The periodic jobs come from `cron_jobs`, made per worker with the relay interval.
    max_tries = 8
    job_timeout = 120
    keep_result = 3600
