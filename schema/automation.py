"""The daily automation in the API: its settings and its runs (SPEC 9, 10.2)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import strawberry

from domain.automation import runs, settings
from schema.common import UserError
from schema.connections import Connection, total_count_field, total_count_is_estimate_field

LateFeeType = strawberry.enum(
    settings.LateFeeType,
    description="PERCENTAGE: `lateFeeAmount` percent of the invoice total. FIXED: that amount.",
)


@strawberry.type(description="How long one step of a run took.")
class AutomationStepTime:
    step: str = strawberry.field(description="The step, e.g. generate_invoices.")
    seconds: float = strawberry.field(description="Its duration in seconds.")


@strawberry.type(
    description="A step of a run that failed, its work undone; or work a step left undone "
    "while the rest of it was done (an invoice too large to store)."
)
class AutomationFailure:
    step: str = strawberry.field(description="The step that failed.")
    message: str = strawberry.field(description="What went wrong.")


@strawberry.type(description="One daily automation run (SPEC 9), kept for every date run.")
class AutomationRun:
    as_of: date = strawberry.field(description="The date the run was for.")
    started: datetime = strawberry.field(description="When the run was first claimed.")
    finished_at: datetime | None = strawberry.field(
        description="When its last step ended; null while it runs (or was cut short)."
    )
    services_cancelled: int = strawberry.field(
        description="Cancellation requests carried out: their services or addons CANCELLED (14.2)."
    )
    clients_deactivated: int = strawberry.field(description="Clients set INACTIVE (9.1, 9.2).")
    clients_activated: int = strawberry.field(description="Clients set ACTIVE again (9.3).")
    invoices_generated: int = strawberry.field(description="Invoices generated (9.5).")
    invoices_captured: int = strawberry.field(description="Card invoices paid by capture (9.5).")
    invoices_declined: int = strawberry.field(
        description="Card invoices whose capture was declined; they stay unpaid (9.5)."
    )
    reminders_sent: int = strawberry.field(description="Payment reminders queued (9.4).")
    overdue_notices_sent: int = strawberry.field(
        description="First, second and third overdue notices queued (9.4)."
    )
    domain_renewal_notices_sent: int = strawberry.field(
        description="Domain renewal notices queued (14.2)."
    )
    late_fees_applied: int = strawberry.field(description="Invoices given a late fee (9.4).")
    steps: list[AutomationStepTime] = strawberry.field(
        description="The steps that have run, in order, with their durations."
    )
    failures: list[AutomationFailure] = strawberry.field(
        description="Steps that failed (each undone; the others ran), and work steps left undone."
    )

    @classmethod
    def build(cls, run: runs.AutomationRun) -> AutomationRun:
        return cls(
            as_of=run.as_of,
            started=run.started_at,
            finished_at=run.finished_at,
            **{name: run.count(name) for name in runs.COUNT_NAMES},
            steps=[
                AutomationStepTime(step=step, seconds=run.durations[step])
                for step in runs.STEPS
                if step in run.durations
            ],
            failures=[
                AutomationFailure(step=f["step"], message=f["message"]) for f in run.failures
            ],
        )


@strawberry.type(description="A page of automation runs, newest date first.")
class AutomationRunConnection(Connection[AutomationRun]):
    total_count: int = total_count_field("How many runs there are")
    total_count_is_estimate: bool = total_count_is_estimate_field("runs")


@strawberry.type(description="The result of running the daily automation now.")
class AutomationRunPayload:
    run: AutomationRun | None = strawberry.field(
        default=None, description="The run, finished unless `errors` says it is still going."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why there are no final counts yet; empty when done."
    )


_DAYS = "0 turns it off; 0–365."


@strawberry.type(description="Settings of the daily automation (SPEC 9.2, 9.4).")
class AutomationSettings:
    run_at: time = strawberry.field(description="When the daily run starts (HH:MM).")
    time_zone: str = strawberry.field(description="The IANA time zone of `runAt` and dates.")
    payment_reminder_days: int = strawberry.field(
        description=f"Days before the due date the payment reminder goes; {_DAYS}"
    )
    first_overdue_notice_days: int = strawberry.field(
        description=f"Days after the due date for the first overdue notice; {_DAYS}"
    )
    second_overdue_notice_days: int = strawberry.field(
        description=f"Days after the due date for the second overdue notice; {_DAYS}"
    )
    third_overdue_notice_days: int = strawberry.field(
        description=f"Days after the due date for the third overdue notice; {_DAYS}"
    )
    late_fee_days: int = strawberry.field(
        description=f"Days after the due date an unpaid invoice gets its late fee; {_DAYS}"
    )
    domain_renewal_notice_days: int = strawberry.field(
        description=f"Days before a domain expires its renewal notice goes (14.2); {_DAYS}"
    )
    second_domain_renewal_notice_days: int = strawberry.field(
        description=f"Days before a domain expires its second renewal notice goes; {_DAYS}"
    )
    late_fee_type: LateFeeType = strawberry.field(  # type: ignore[valid-type]
        description="Percentage of the total, or a fixed amount."
    )
    late_fee_amount: Decimal = strawberry.field(
        description="The percentage (0–100) or amount of the late fee; 0 adds none."
    )
    late_fee_minimum: Decimal = strawberry.field(description="The smallest late fee added.")
    change_client_status: bool = strawberry.field(
        description="Set clients without active items INACTIVE and buyers ACTIVE (9.1–9.3)."
    )
    inactive_after_three_months_without_login: bool = strawberry.field(
        description="Also set INACTIVE clients without a client-area login for 3 months (9.2)."
    )

    @classmethod
    def build(cls, value: settings.AutomationSettings) -> AutomationSettings:
        return cls(**{name: getattr(value, name) for name in settings.SETTING_NAMES})


@strawberry.input(description="Changes to the automation settings; omitted ones keep their value.")
class AutomationSettingsInput:
    run_at: time | None = strawberry.field(
        default=strawberry.UNSET, description="When the daily run starts."
    )
    time_zone: str | None = strawberry.field(
        default=strawberry.UNSET, description="An IANA time zone, e.g. Europe/Paris."
    )
    payment_reminder_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=f"Days before the due date; {_DAYS}"
    )
    first_overdue_notice_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=f"Days after the due date; {_DAYS}"
    )
    second_overdue_notice_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=f"Days after the due date; {_DAYS}"
    )
    third_overdue_notice_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=f"Days after the due date; {_DAYS}"
    )
    late_fee_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=f"Days after the due date; {_DAYS}"
    )
    domain_renewal_notice_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=f"Days before a domain expires; {_DAYS}"
    )
    second_domain_renewal_notice_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=f"Days before a domain expires; {_DAYS}"
    )
    late_fee_type: LateFeeType | None = strawberry.field(  # type: ignore[valid-type]
        default=strawberry.UNSET, description="Percentage of the total, or a fixed amount."
    )
    late_fee_amount: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="Percentage 0–100, or an amount ≥ 0."
    )
    late_fee_minimum: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="The smallest late fee, an amount ≥ 0."
    )
    change_client_status: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether the run changes client status."
    )
    inactive_after_three_months_without_login: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether 3 months without login make INACTIVE."
    )


@strawberry.type(description="The result of changing the automation settings.")
class AutomationSettingsPayload:
    settings: AutomationSettings | None = strawberry.field(
        default=None, description="The settings now in force; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
