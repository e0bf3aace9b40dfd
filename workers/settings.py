"""arq worker settings: the jobs and the periodic schedule.

Connections are made by the composition root (`app.worker`), which passes the Redis
settings and a start-up hook that puts `WorkerResources` in the job context.
"""

from __future__ import annotations

from arq import cron

from workers.email import relay_outbox, send_email
from workers.maintenance import purge_expired_idempotency_keys, purge_expired_sessions


class WorkerSettings:
    functions = [send_email]
    # arq gives each cron run a job id made of its name and time, so a run happens once
    # per schedule however many workers are running (SPEC 9.6).
    cron_jobs = [
        cron(relay_outbox, second={0}, run_at_startup=True),
        cron(purge_expired_sessions, hour={3}, minute={17}, second={0}),
        cron(purge_expired_idempotency_keys, minute={41}, second={0}),
    ]
    max_tries = 8
    job_timeout = 120
    keep_result = 3600
