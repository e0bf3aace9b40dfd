"""The daily automation: its settings, its runs, and running it now (SPEC 9, 10.2)."""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import date, datetime
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.automation import runs
from domain.automation import settings as automation_settings
from resolvers.context import Context
from resolvers.inputs import provided_fields
from resolvers.mutation import perform
from resolvers.pagination import (
    After,
    Before,
    First,
    Last,
    connection,
    cursor_errors,
    looks_behind,
    page_request,
)
from resolvers.permissions import staff
from schema.automation import (
    AutomationRun,
    AutomationRunConnection,
    AutomationRunPayload,
    AutomationSettings,
    AutomationSettingsInput,
    AutomationSettingsPayload,
)
from schema.common import UserError

# How often runAutomation looks whether the worker has finished the run.
POLL_SECONDS = 0.1
# The key of the runs list in its cursors.
AUTOMATION_RUNS = "automation-runs"


async def get_automation_settings(info: Info[Context, None]) -> AutomationSettings:
    async with info.context.connection() as conn:
        return AutomationSettings.build(await automation_settings.get_automation_settings(conn))


async def update_automation_settings(
    info: Info[Context, None],
    input: Annotated[
        AutomationSettingsInput, strawberry.argument(description="The settings to change.")
    ],
) -> AutomationSettingsPayload:
    # A null for a setting means "keep it", like an omitted one: no setting can be unset.
    changes = {k: v for k, v in provided_fields(input).items() if v is not None}

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> AutomationSettingsPayload:
        updated = await automation_settings.update_automation_settings(conn, **changes)
        return AutomationSettingsPayload(settings=AutomationSettings.build(updated))

    return await perform(info, work, AutomationSettingsPayload)


async def automation_runs(
    info: Info[Context, None],
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> AutomationRunConnection:
    """Every run, newest date first."""
    request = page_request(AUTOMATION_RUNS, first, after, last, before)
    async with info.context.connection() as conn:
        with cursor_errors():
            page = await runs.automation_runs(
                conn, request, look_behind=looks_behind(info, request)
            )
        total = await runs.count_runs(conn)
    return connection(
        AutomationRunConnection, page, AUTOMATION_RUNS, AutomationRun.build, total=total
    )


async def run_automation(
    info: Info[Context, None],
    as_of: Annotated[
        date | None,
        strawberry.argument(
            description="The date to run for (within a year of today); today in the "
            "installation's time zone when omitted."
        ),
    ] = None,
) -> AutomationRunPayload:
    """Hand the run to a worker and wait for it (a date already run is not run again)."""
    ctx = info.context

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> date:
        zone = (await automation_settings.get_automation_settings(conn)).zone
        today = datetime.now(zone).date()
        day = as_of or today
        runs.check_run_date(day, today)
        return day

    return await perform(info, work, AutomationRunPayload, present=functools.partial(_run, ctx))


async def _run(ctx: Context, day: date) -> AutomationRunPayload:
    """Hand the run of `day` to a worker and wait for it to finish, or for the deadline."""
    await ctx.services.enqueue_automation_run(day)
    deadline = time.monotonic() + ctx.services.automation_wait_seconds
    while True:
        async with ctx.connection() as conn:
            run = await runs.get_run(conn, day)
        if run is not None and run.finished_at is not None:
            return AutomationRunPayload(run=AutomationRun.build(run))
        if time.monotonic() >= deadline:
            break
        # Waiting for the run may take seconds: the connection goes back to the pool meanwhile.
        await ctx.db.give_back()
        await asyncio.sleep(POLL_SECONDS)
    return AutomationRunPayload(
        run=AutomationRun.build(run) if run else None,
        errors=[
            UserError(
                field=None,
                code="STILL_RUNNING",
                message="The run has not finished yet; see automationRuns for its counts.",
            )
        ],
    )


@strawberry.type(description="Root fields of the automation: what can be read.")
class Queries:
    automation_settings: AutomationSettings = strawberry.field(
        resolver=get_automation_settings,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Settings of the daily automation (staff who manage settings).",
    )
    automation_runs: AutomationRunConnection = strawberry.field(
        resolver=automation_runs,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Every daily automation run with its counts, newest date first (staff).",
    )


@strawberry.type(description="Root fields of the automation: what can be changed.")
class Mutations:
    run_automation: AutomationRunPayload = strawberry.field(
        resolver=run_automation,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Run the daily automation now through a worker, wait for it and return "
        "its counts; a date already run returns that run (staff who manage settings).",
    )
    update_automation_settings: AutomationSettingsPayload = strawberry.field(
        resolver=update_automation_settings,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Change the automation settings; each value is checked.",
    )
