"""The staff dashboard (SPEC 12.3): exact figures from maintained counters.

Each figure needs the staff permission that reads its objects today, checked here where it
resolves: without it the figure is null with a FORBIDDEN error, and the others still come.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from domain import dashboard
from domain.auth.permissions import StaffPermission
from domain.clients.models import ClientStatus
from domain.errors import DomainError
from schema import clients as _registers_client_status  # noqa: F401 -- its GraphQL enum
from schema.automation import AutomationRun
from schema.common import Forbidden, Unauthenticated
from schema.context import SchemaContext

strawberry.enum(
    dashboard.Interval,
    name="IncomeInterval",
    description="How income is grouped: per calendar DAY or MONTH.",
)


async def _read(
    info: Info[SchemaContext, Any], permission: StaffPermission, part: dashboard.Part
) -> dashboard.Figures:
    """The figures, once `permission` is checked; every field of one dashboard asks in the
    same tick, so the request's DataLoader reads them all in one statement."""
    viewer = await info.context.get_viewer()
    if viewer is None:
        raise Unauthenticated()
    if not viewer.has_staff_permission(permission):
        raise Forbidden(f"This needs the staff permission {permission.value}.")
    return await info.context.loaders.dashboard_figures.load(part)


@strawberry.type(description="A number of clients with one status.")
class ClientStatusCount:
    status: ClientStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="How many clients have it.")


@strawberry.type(description="An amount in one currency.")
class CurrencyTotal:
    currency: str = strawberry.field(description="ISO 4217 code of the currency.")
    amount: Decimal = strawberry.field(description="The exact amount.")

    @classmethod
    def build_all(cls, totals: list[dashboard.CurrencyTotal]) -> list[CurrencyTotal]:
        return [cls(currency=total.currency, amount=total.amount) for total in totals]


@strawberry.type(description="A number of invoices and what is still due on them.")
class InvoiceFigures:
    count: int = strawberry.field(description="How many invoices, in every currency.")
    totals: list[CurrencyTotal] = strawberry.field(
        description="The balance still due, per currency (currencies with none left out)."
    )


@strawberry.type(description="Payments received, less refunds made, in one day or month.")
class IncomePeriod:
    date: date = strawberry.field(description="The period's first day.")
    totals: list[CurrencyTotal] = strawberry.field(
        description="Received per currency, refunds subtracted; empty when nothing came in."
    )


async def _invoice_figures(
    info: Info[SchemaContext, Any], part: dashboard.Figure
) -> InvoiceFigures:
    figures = (await _read(info, StaffPermission.VIEW_CLIENTS, part)).invoices[part]
    return InvoiceFigures(count=figures.count, totals=CurrencyTotal.build_all(figures.totals))


async def _count(
    info: Info[SchemaContext, Any], permission: StaffPermission, part: dashboard.Figure
) -> int:
    return (await _read(info, permission, part)).counts[part]


@strawberry.type(
    description="What a staff dashboard shows, exact and read from counters kept up to date "
    "in each change's transaction. Each figure needs the permission that reads its objects."
)
class Dashboard:
    @strawberry.field(description="Clients per status, every status listed (VIEW_CLIENTS).")
    async def clients_by_status(
        self, info: Info[SchemaContext, None]
    ) -> list[ClientStatusCount] | None:
        part = dashboard.Figure.CLIENTS_BY_STATUS
        counts = (await _read(info, StaffPermission.VIEW_CLIENTS, part)).clients_by_status
        return [ClientStatusCount(status=status, count=n) for status, n in counts.items()]

    @strawberry.field(description="Unpaid invoices and their balance (VIEW_CLIENTS).")
    async def unpaid_invoices(self, info: Info[SchemaContext, None]) -> InvoiceFigures | None:
        return await _invoice_figures(info, dashboard.Figure.UNPAID)

    @strawberry.field(
        description="Unpaid invoices due before today in the installation's time zone, and "
        "their balance (VIEW_CLIENTS)."
    )
    async def overdue_invoices(self, info: Info[SchemaContext, None]) -> InvoiceFigures | None:
        return await _invoice_figures(info, dashboard.Figure.OVERDUE)

    @strawberry.field(
        description="Payments received less refunds made (on the day of the refund) per "
        "period from `from` to `to` (both included, days in "
        "the installation's time zone), every period listed (VIEW_CLIENTS)."
    )
    async def income(
        self,
        info: Info[SchemaContext, None],
        from_: Annotated[date, strawberry.argument(name="from", description="The first day.")],
        to: Annotated[date, strawberry.argument(description="The last day.")],
        interval: Annotated[
            dashboard.Interval, strawberry.argument(description="Per day or per month.")
        ],
    ) -> list[IncomePeriod] | None:
        try:
            wanted = dashboard.income_range(from_, to, interval)
        except DomainError as error:
            raise GraphQLError(
                error.errors[0].message, extensions={"code": "BAD_USER_INPUT"}
            ) from None
        periods = (await _read(info, StaffPermission.VIEW_CLIENTS, wanted)).income[wanted]
        return [
            IncomePeriod(date=period.start, totals=CurrencyTotal.build_all(period.totals))
            for period in periods
        ]

    @strawberry.field(description="Tickets not closed (VIEW_CLIENTS).")
    async def open_tickets(self, info: Info[SchemaContext, None]) -> int | None:
        return await _count(info, StaffPermission.VIEW_CLIENTS, dashboard.Figure.OPEN_TICKETS)

    @strawberry.field(
        description="Tickets awaiting a staff reply: none yet, or the client wrote after the "
        "last one (VIEW_CLIENTS)."
    )
    async def awaiting_reply(self, info: Info[SchemaContext, None]) -> int | None:
        return await _count(info, StaffPermission.VIEW_CLIENTS, dashboard.Figure.AWAITING_REPLY)

    @strawberry.field(description="Emails not sent yet and still being tried (VIEW_EMAILS).")
    async def queued_emails(self, info: Info[SchemaContext, None]) -> int | None:
        return await _count(info, StaffPermission.VIEW_EMAILS, dashboard.Figure.QUEUED_EMAILS)

    @strawberry.field(description="Emails given up on after their retries (VIEW_EMAILS).")
    async def failed_emails(self, info: Info[SchemaContext, None]) -> int | None:
        return await _count(info, StaffPermission.VIEW_EMAILS, dashboard.Figure.FAILED_EMAILS)

    @strawberry.field(
        description="The last finished daily run; null before the first (MANAGE_SETTINGS)."
    )
    async def last_automation_run(self, info: Info[SchemaContext, None]) -> AutomationRun | None:
        part = dashboard.Figure.LAST_RUN
        run = (await _read(info, StaffPermission.MANAGE_SETTINGS, part)).last_run
        return AutomationRun.build(run) if run else None

    @strawberry.field(
        description="When the next daily run starts: today's time unless today's run is "
        "finished, then tomorrow's; in the past while a due run has not finished "
        "(MANAGE_SETTINGS)."
    )
    async def next_automation_run_at(self, info: Info[SchemaContext, None]) -> datetime | None:
        part = dashboard.Figure.NEXT_RUN
        return (await _read(info, StaffPermission.MANAGE_SETTINGS, part)).next_run_at
