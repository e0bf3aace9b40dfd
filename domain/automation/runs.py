"""The daily run (SPEC 9): its steps in order, each recorded with its counts, once per date.

A run claims its date by inserting its row; claiming a date again finds the row and does
no step twice (SPEC 9.6). One run works at a time in the whole installation (a session
advisory lock, let go by PostgreSQL when a worker dies), so two workers given the same date
take turns and the second finds the work done. Each step commits its work together with
its counts on the run's row, so a run cut short — a worker killed half-way — is finished by
the next attempt from the first step that did not commit. Card capture is the exception:
each payment commits on its own (no database lock is held over a gateway call), and an
invoice paid is not captured again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from domain.automation import notices
from domain.automation.client_status import update_client_statuses
from domain.automation.settings import AutomationSettings, get_automation_settings
from domain.billing.gateway_protocol import CardOnFile, PaymentGateway
from domain.billing.gateways import capture_due_invoices
from domain.billing.generation import generate_invoices
from domain.cards.crypto import CardKeyring
from domain.cards.services import card_on_file
from domain.catalogue.cancellations import carry_out_cancellations
from domain.catalogue.emails import queue_domain_renewal_notices
from domain.errors import DomainError, ErrorCode
from domain.money import MAX_AMOUNT
from domain.paging import Keyset, Page, PageRequest, fetch_page
from domain.totals import Total, count_rows

log = logging.getLogger("clientdesk.automation")

# The key of the advisory lock only one run holds at a time ("autorun" in ASCII).
RUN_LOCK = 0x6175746F72756E

# What a run counts, in the order the API shows them.
COUNT_NAMES = (
    "services_cancelled",
    "clients_deactivated",
    "clients_activated",
    "invoices_generated",
    "invoices_captured",
    "invoices_declined",
    "reminders_sent",
    "overdue_notices_sent",
    "domain_renewal_notices_sent",
    "late_fees_applied",
)


@dataclass(frozen=True)
class AutomationRun:
    id: int
    as_of: date
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    durations: dict[str, float]  # seconds per step that has run
    failures: list[dict[str, str]]  # {step, message} per step that failed

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)


@dataclass(frozen=True)
class RunTools:
    """What a run needs from the installation: its gateways by name, its card keys, and the
    client-area address its emails link to."""

    gateways: Mapping[str, PaymentGateway]
    card_keyring: CardKeyring | None
    client_area_url: str


# A run's columns, in the order of AutomationRun's fields.
FIELDS = ("id", "as_of", "started_at", "finished_at", "counts", "durations", "failures")
_COLUMNS = ", ".join(FIELDS)


def _run(row: asyncpg.Record) -> AutomationRun:
    return AutomationRun(**dict(row))


@dataclass(frozen=True)
class StepResult:
    counts: dict[str, int]
    # Recorded among the run's failures, for staff to see: why the step failed, or what it
    # left undone while the rest of its work committed (an invoice too large to store).
    failures: tuple[str, ...] = ()


Step = Callable[[asyncpg.Connection, date, AutomationSettings, RunTools], Awaitable[StepResult]]


async def _carry_out_cancellations(
    conn: asyncpg.Connection, as_of: date, settings: AutomationSettings, tools: RunTools
) -> StepResult:
    done = await carry_out_cancellations(conn, as_of=as_of, client_area_url=tools.client_area_url)
    return StepResult({"services_cancelled": len(done)})


async def _generate_invoices(
    conn: asyncpg.Connection, as_of: date, settings: AutomationSettings, tools: RunTools
) -> StepResult:
    result = await generate_invoices(conn, as_of=as_of)
    await notices.queue_new_invoice_emails(conn, client_area_url=tools.client_area_url)
    return StepResult(
        {"invoices_generated": result.invoices_created},
        tuple(
            f"Client {t.client_id}: the invoice due {t.due_date} would total {t.total:,}, more "
            f"than an invoice can hold ({MAX_AMOUNT:,}); its items were left uninvoiced."
            for t in result.too_large
        ),
    )


async def _capture_payments(
    conn: asyncpg.Connection, as_of: date, settings: AutomationSettings, tools: RunTools
) -> StepResult:
    async def stored_card(client_id: int) -> CardOnFile | None:
        return await card_on_file(conn, tools.card_keyring, client_id)

    summary = await capture_due_invoices(
        conn,
        as_of=as_of,
        gateways=tools.gateways,
        card_for=stored_card,
        client_area_url=tools.client_area_url,
    )
    return StepResult(
        {"invoices_captured": len(summary.captured), "invoices_declined": len(summary.declined)}
    )


async def _send_notices(
    conn: asyncpg.Connection, as_of: date, settings: AutomationSettings, tools: RunTools
) -> StepResult:
    url = tools.client_area_url
    return StepResult(
        {
            "reminders_sent": await notices.queue_payment_reminders(
                conn, as_of=as_of, settings=settings, client_area_url=url
            ),
            "overdue_notices_sent": await notices.queue_overdue_notices(
                conn, as_of=as_of, settings=settings, client_area_url=url
            ),
            "domain_renewal_notices_sent": await queue_domain_renewal_notices(
                conn,
                as_of=as_of,
                offsets=(
                    settings.domain_renewal_notice_days,
                    settings.second_domain_renewal_notice_days,
                ),
                client_area_url=url,
            ),
        }
    )


async def _add_late_fees(
    conn: asyncpg.Connection, as_of: date, settings: AutomationSettings, tools: RunTools
) -> StepResult:
    fees = await notices.add_late_fees(conn, as_of=as_of, settings=settings)
    return StepResult(
        {"late_fees_applied": fees.added},
        tuple(
            f"Invoice #{number}: its late fee would take the total above {MAX_AMOUNT:,}; "
            "none was added."
            for number in fees.too_large
        ),
    )


async def _update_client_statuses(
    conn: asyncpg.Connection, as_of: date, settings: AutomationSettings, tools: RunTools
) -> StepResult:
    changes = await update_client_statuses(conn, as_of=as_of, settings=settings)
    return StepResult(
        {"clients_deactivated": changes.deactivated, "clients_activated": changes.activated}
    )


# The steps in the order they run (SPEC 9); each in one transaction but card capture.
STEPS: dict[str, Step] = {
    # First: a service cancelled today is not invoiced, and its client may become inactive.
    "carry_out_cancellations": _carry_out_cancellations,
    "generate_invoices": _generate_invoices,
    "capture_payments": _capture_payments,
    "send_notices": _send_notices,
    "add_late_fees": _add_late_fees,
    "update_client_statuses": _update_client_statuses,
}
_OWN_TRANSACTIONS = frozenset({"capture_payments"})


# Staff run a missed day or look ahead; dates further off are a typing mistake.
MAX_DAYS_FROM_TODAY = 366


def check_run_date(as_of: date, today: date) -> None:
    if abs((as_of - today).days) > MAX_DAYS_FROM_TODAY:
        raise DomainError.single(
            ErrorCode.INVALID,
            f"Runs are for dates within {MAX_DAYS_FROM_TODAY} days of today.",
            "as_of",
        )


async def get_run(conn: asyncpg.Connection, as_of: date) -> AutomationRun | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM automation_runs WHERE as_of = $1", as_of)
    return _run(row) if row else None


async def get_run_by_id(conn: asyncpg.Connection, run_id: int) -> AutomationRun | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM automation_runs WHERE id = $1", run_id)
    return _run(row) if row else None


async def _claim(conn: asyncpg.Connection, as_of: date) -> AutomationRun:
    await conn.execute(
        "INSERT INTO automation_runs (as_of) VALUES ($1) ON CONFLICT (as_of) DO NOTHING", as_of
    )
    run = await get_run(conn, as_of)
    assert run is not None
    return run


async def _record_step(
    conn: asyncpg.Connection,
    run_id: int,
    step: str,
    result: StepResult,
    seconds: float,
) -> None:
    await conn.execute(
        """UPDATE automation_runs
              SET counts = counts || $2::jsonb,
                  durations = durations || jsonb_build_object($3::text, $4::float8),
                  failures = failures || coalesce(
                      (SELECT jsonb_agg(jsonb_build_object('step', $3::text, 'message', m)
                                        ORDER BY n)
                         FROM unnest($5::text[]) WITH ORDINALITY AS f (m, n)), '[]'::jsonb)
            WHERE id = $1""",
        run_id,
        result.counts,
        step,
        round(seconds, 3),
        list(result.failures),
    )


async def _run_step(
    conn: asyncpg.Connection,
    run: AutomationRun,
    step: str,
    settings: AutomationSettings,
    tools: RunTools,
) -> None:
    started = time.perf_counter()
    try:
        if step in _OWN_TRANSACTIONS:
            result = await STEPS[step](conn, run.as_of, settings, tools)
            await _record_step(conn, run.id, step, result, time.perf_counter() - started)
        else:
            async with conn.transaction():
                result = await STEPS[step](conn, run.as_of, settings, tools)
                await _record_step(conn, run.id, step, result, time.perf_counter() - started)
    except (asyncpg.InterfaceError, OSError):
        raise  # the connection is gone: the next attempt resumes at this step
    except Exception as error:
        # Rolled back and recorded; the other steps still run. Staff see it in the run.
        log.exception("automation step %s failed", step, extra={"as_of": str(run.as_of)})
        result = StepResult({}, (repr(error)[:1000],))
        await _record_step(conn, run.id, step, result, time.perf_counter() - started)
    counts = result.counts
    log.info(
        "automation step %s for %s: %s in %.3f s",
        step,
        run.as_of,
        counts,
        time.perf_counter() - started,
        extra={
            "step": step,
            "as_of": str(run.as_of),
            "counts": counts,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )


async def perform_run(conn: asyncpg.Connection, as_of: date, tools: RunTools) -> AutomationRun:
    """Run the daily automation for `as_of`, or finish it, or find it done; return the run.

    Waits while another run works (one at a time in the whole installation)."""
    await conn.execute("SELECT pg_advisory_lock($1)", RUN_LOCK)
    try:
        return await _finish(conn, await _claim(conn, as_of), tools)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", RUN_LOCK)


async def finish_cut_short_runs(conn: asyncpg.Connection, tools: RunTools) -> list[date]:
    """Finish the runs a dead worker left unfinished, unless a run is working right now;
    return their dates. A worker does this when it starts, so a run killed half-way ends
    as soon as a worker is back rather than when arq hands its job out again."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RUN_LOCK):
        return []
    try:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM automation_runs WHERE finished_at IS NULL ORDER BY as_of"
        )
        return [(await _finish(conn, _run(row), tools)).as_of for row in rows]
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", RUN_LOCK)


async def _finish(conn: asyncpg.Connection, run: AutomationRun, tools: RunTools) -> AutomationRun:
    """The steps `run` has not done, in order; the caller holds the run lock."""
    if run.finished_at is None:
        settings = await get_automation_settings(conn)
        for step in STEPS:
            if step not in run.durations:
                await _run_step(conn, run, step, settings, tools)
        await conn.execute("UPDATE automation_runs SET finished_at = now() WHERE id = $1", run.id)
    finished = await get_run(conn, run.as_of)
    assert finished is not None
    return finished


async def last_finished_run(conn: asyncpg.Connection) -> AutomationRun | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM automation_runs WHERE finished_at IS NOT NULL
             ORDER BY finished_at DESC LIMIT 1"""
    )
    return _run(row) if row else None


# Every run, newest date first.
AUTOMATION_RUNS = Keyset(
    columns=_COLUMNS,
    source="FROM automation_runs",
    expression="as_of",
    sql_type="date",
    id_column="id",
)


async def automation_runs(
    conn: asyncpg.Connection, request: PageRequest, *, look_behind: bool = True
) -> Page[AutomationRun]:
    return await fetch_page(
        conn, AUTOMATION_RUNS, request, _run, descending=True, look_behind=look_behind
    )


async def count_runs(conn: asyncpg.Connection) -> Total:
    return await count_rows(conn, "FROM automation_runs")
