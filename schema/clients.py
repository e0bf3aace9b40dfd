"""Client types and payloads; their inputs are in schema/client_inputs.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, TypeVar

import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.billing.models import DomainStatus
from domain.clients import models, queries
from domain.emails.log import ShownEmail as EmailRow
from domain.files import services as file_services
from domain.totals import Total
from schema.access import require
from schema.billing import Domain, Invoice, Service, Transaction
from schema.cards import Card
from schema.client_dealings import ClientDealings
from schema.client_lists import REMEMBERED, ServiceStatuses
from schema.client_presentation import (
    ClientPresentation,
    Currency,
)
from schema.common import Forbidden, UserError
from schema.connections import (
    Connection,
    total_count_description,
    total_count_is_estimate_description,
)
from schema.contacts import Contact
from schema.context import SchemaContext
from schema.credit import CreditEntry
from schema.emails import Email
from schema.files import ClientFile
from schema.ids import global_id
from schema.nesting import NESTED_LIST_CAP, Capped, capped
from schema.node import Node
from schema.people import Address
from schema.prefetched import prefetched_in
from schema.tickets import Ticket

ClientStatus = strawberry.enum(
    models.ClientStatus,
    description="ACTIVE: can log in, has active services. INACTIVE: can log in, has none. "
    "CLOSED: cannot log in to the client area.",
)
ClientOrderField = strawberry.enum(
    queries.ClientOrderField, description="What the client list is sorted by."
)


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.type(description="A customer account: the person or company that is billed.")
class Client(ClientDealings, Node):
    id: strawberry.ID = strawberry.field(description="The client's id.")
    # The row id behind `id`, for the loaders of nested fields.
    pk: strawberry.Private[int]
    first_name: str = strawberry.field(description="First name of the account holder.")
    last_name: str = strawberry.field(description="Last name of the account holder.")
    company_name: str | None = strawberry.field(description="Company name, when a business.")
    email: str = strawberry.field(description="Email address; also the owner's login.")
    phone_number: str | None = strawberry.field(description="Phone number.")
    address: Address = strawberry.field(description="Postal address.")
    display_name: str = strawberry.field(
        description="Name as staff screens show it, following `clientDisplayFormat`."
    )
    status: models.ClientStatus = strawberry.field(description="Account status.")
    language: str | None = strawberry.field(description="Client-area language (ISO 639-1).")
    currency: Currency = strawberry.field(description="The currency the client is billed in.")
    notes: str | None = strawberry.field(
        description="Staff-only notes; null for client-area viewers."
    )
    overdue_notices_disabled: bool = strawberry.field(
        description="No overdue notices are sent (the reminder before the due date still is)."
    )
    late_fees_exempt: bool = strawberry.field(description="No late fee is ever added.")
    tax_exempt: bool = strawberry.field(description="No tax applies to generated invoices.")
    separate_invoices: bool = strawberry.field(
        description="Items due together are invoiced one invoice per item."
    )
    cc_processing_disabled: bool = strawberry.field(
        description="Card invoices are never captured automatically."
    )
    default_payment_method: str | None = strawberry.field(
        description="Payment gateway used for the client's services and invoices."
    )
    two_factor_enabled: bool = strawberry.field(
        description="Whether the client has turned on TOTP two-factor login."
    )
    credit_balance: Decimal = strawberry.field(description="Available credit, in `currency`.")
    last_login_at: datetime | None = strawberry.field(
        description="When the owner last logged in to the client area."
    )
    created_at: datetime = strawberry.field(description="When the client was added.")
    updated_at: datetime = strawberry.field(description="When the profile last changed.")

    # The email log when the parent resolver fetched it with its page, for a viewer who may
    # read it (`may_read_emails`); None: `emails` loads it through the request's DataLoader.
    sent_emails: strawberry.Private[list[Email] | None] = None

    @strawberry.field(
        description="Emails sent to this client, newest first. At most `first` (200, the cap).",
        graphql_type=list[Email],
        # The executor answers from `sent_emails` when the page brought them, without a call:
        # the page brings them only when every `emails` it selects leaves `first` out.
        metadata=prefetched_in("sent_emails"),
    )
    def emails(
        self, info: Info[SchemaContext, None], first: Capped = NESTED_LIST_CAP
    ) -> list[Email] | Awaitable[list[Email]]:
        # Not async when the emails came with the page: an async field on every item of a
        # list costs graphql-core a task per item.
        if self.sent_emails is not None:
            return self.sent_emails
        return self._load_emails(info, capped(first))

    async def _load_emails(self, info: Info[SchemaContext, None], first: int) -> list[Email]:
        await require(info, staff=StaffPermission.VIEW_EMAILS, client_area=ContactPermission.EMAILS)
        rows = await info.context.loaders.sent_emails_by_client.load((self.pk, first, None))
        return [Email.from_row(row) for row in rows]

    # The default billing contact's id (SPEC 2.5), resolved by `default_billing_contact`.
    billing_contact_id: strawberry.Private[int | None] = None

    @strawberry.field(
        description="The credit log, newest first: every change of `creditBalance` (SPEC 3). "
        "At most `first` (200, the cap)."
    )
    async def credit_log(
        self, info: Info[SchemaContext, None], first: Capped = NESTED_LIST_CAP
    ) -> list[CreditEntry]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.INVOICES
        )
        rows = await info.context.loaders.credit_log_by_client.load((self.pk, capped(first), None))
        return [CreditEntry.build(row) for row in rows]

    @strawberry.field(description=f"Services, oldest first. {REMEMBERED}")
    async def services(
        self,
        info: Info[SchemaContext, None],
        statuses: ServiceStatuses = None,
        first: Capped = NESTED_LIST_CAP,
    ) -> list[Service]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.PRODUCTS
        )
        # Keyed by the statuses asked for: the batch resolves the filter, in the statement.
        key = (self.pk, capped(first), None if statuses is None else frozenset(statuses))
        return [
            Service.build(row) for row in await info.context.loaders.services_by_client.load(key)
        ]

    @strawberry.field(description=f"Addons, oldest first. {REMEMBERED} Shared with `services`.")
    async def addons(
        self,
        info: Info[SchemaContext, None],
        statuses: ServiceStatuses = None,
        first: Capped = NESTED_LIST_CAP,
    ) -> list[Service]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.PRODUCTS
        )
        key = (self.pk, capped(first), None if statuses is None else frozenset(statuses))
        return [Service.build(row) for row in await info.context.loaders.addons_by_client.load(key)]

    @strawberry.field(description=f"Domains, oldest first. {REMEMBERED}")
    async def domains(
        self,
        info: Info[SchemaContext, None],
        statuses: Annotated[
            list[DomainStatus] | None,
            strawberry.argument(description="Only these statuses; staff: remembered."),
        ] = None,
        first: Capped = NESTED_LIST_CAP,
    ) -> list[Domain]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.DOMAINS
        )
        key = (self.pk, capped(first), None if statuses is None else frozenset(statuses))
        return [Domain.build(row) for row in await info.context.loaders.domains_by_client.load(key)]

    @strawberry.field(description="Invoices, newest first. At most `first` (200, the cap).")
    async def invoices(
        self, info: Info[SchemaContext, None], first: Capped = NESTED_LIST_CAP
    ) -> list[Invoice]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.INVOICES
        )
        rows = await info.context.loaders.invoices_by_client.load((self.pk, capped(first), None))
        return [Invoice.build(row) for row in rows]

    @strawberry.field(
        description="Payments received, newest first. At most `first` (200, the cap)."
    )
    async def transactions(
        self, info: Info[SchemaContext, None], first: Capped = NESTED_LIST_CAP
    ) -> list[Transaction]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.INVOICES
        )
        rows = await info.context.loaders.transactions_by_client.load(
            (self.pk, capped(first), None)
        )
        return [Transaction.build(row) for row in rows]

    @strawberry.field(
        description="The client's contacts and sub-accounts. At most `first` (200, the cap)."
    )
    async def contacts(
        self, info: Info[SchemaContext, None], first: Capped = NESTED_LIST_CAP
    ) -> list[Contact]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.CONTACTS
        )
        rows = await info.context.loaders.contacts_by_client.load((self.pk, capped(first), None))
        return [Contact.build(row) for row in rows]

    @strawberry.field(
        description="The contact invoices are addressed and emailed to; null: the client."
    )
    async def default_billing_contact(self, info: Info[SchemaContext, None]) -> Contact | None:
        # Checked first: whether a billing contact is set is itself contact information.
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.CONTACTS
        )
        if self.billing_contact_id is None:
            return None
        row = await info.context.loaders.contact_by_id.load(self.billing_contact_id)
        return Contact.build(row) if row else None

    @strawberry.field(
        description="Support tickets, newest first (SPEC 2.3). At most `first` (200, the cap)."
    )
    async def tickets(
        self, info: Info[SchemaContext, None], first: Capped = NESTED_LIST_CAP
    ) -> list[Ticket]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.TICKETS
        )
        rows = await info.context.loaders.tickets_by_client.load((self.pk, capped(first), None))
        return [Ticket.build(row) for row in rows]

    @strawberry.field(description="The stored card, when the client has one (SPEC 4.1).")
    async def card(self, info: Info[SchemaContext, None]) -> Card | None:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.INVOICES
        )
        row = await info.context.loaders.card_by_client.load(self.pk)
        return Card.build(row) if row else None

    @strawberry.field(
        description="Ids of the clients merged into this one (SPEC 7.1); each still leads here."
    )
    async def merged_from(self, info: Info[SchemaContext, None]) -> list[strawberry.ID]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.PROFILE
        )
        merged = await info.context.loaders.merged_from_by_client.load(self.pk)
        return [global_id("Client", pk) for pk in merged]

    @strawberry.field(
        description="Files staff attached, oldest first (SPEC 6). The client area sees those "
        "not admin-only; a sub-account needs PROFILE. At most `first` (200, the cap)."
    )
    async def files(
        self, info: Info[SchemaContext, None], first: Capped = NESTED_LIST_CAP
    ) -> list[ClientFile]:
        await require(
            info,
            staff=file_services.STAFF_PERMISSION,
            client_area=file_services.CLIENT_AREA_PERMISSION,
        )
        viewer = await info.context.get_viewer()
        # Staff see the admin-only files too: the statement leaves them out for the others.
        admin_only = viewer is not None and viewer.is_staff
        key = (self.pk, capped(first), admin_only)
        rows = await info.context.loaders.files_by_client.load(key)
        return [ClientFile.build(row) for row in rows if file_services.may_see(viewer, row)]

    @classmethod
    def build(
        cls,
        row: models.Client,
        presentation: ClientPresentation,
        *,
        sent_emails: list[EmailRow] | None = None,
    ) -> Client:
        client = cls(
            id=global_id("Client", row.id),
            pk=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            company_name=row.company_name,
            email=row.email,
            phone_number=row.phone_number,
            address=Address.of(row),
            display_name=row.display_name(presentation.display_format),
            status=row.status,
            language=row.language,
            currency=presentation.currency(row.currency),
            notes=row.notes if presentation.viewer_is_staff else None,
            overdue_notices_disabled=row.overdue_notices_disabled,
            late_fees_exempt=row.late_fees_exempt,
            tax_exempt=row.tax_exempt,
            separate_invoices=row.separate_invoices,
            cc_processing_disabled=row.cc_processing_disabled,
            default_payment_method=row.default_payment_method,
            two_factor_enabled=row.two_factor_enabled,
            credit_balance=row.credit_balance,
            last_login_at=row.last_login_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            sent_emails=None if sent_emails is None else [Email.from_row(e) for e in sent_emails],
            billing_contact_id=row.billing_contact_id,
        )
        # A withheld field holds its refusal: graphql-core raises an error it resolves to
        # as that field's error, so the field needs no resolver (and staff lists no check).
        for name, permission in presentation.withheld_fields.items():
            setattr(client, name, Forbidden(f"This needs the permission {permission.value}."))
        return client


T = TypeVar("T")


@strawberry.type(description="A page of clients.")
class ClientConnection(Connection[Client]):
    filter: strawberry.Private[queries.ClientFilter]
    # Counted by the parent resolver with the page when asked for; None: counted here.
    counted: strawberry.Private[Total | None] = None

    @strawberry.field(
        description=total_count_description("How many clients match the search and filter"),
        graphql_type=int,
    )
    def total_count(self, info: Info[SchemaContext, None]) -> int | Awaitable[int]:
        if self.counted is not None:
            return self.counted.count
        return self._count(info, lambda total: total.count)

    @strawberry.field(description=total_count_is_estimate_description("clients"), graphql_type=bool)
    def total_count_is_estimate(self, info: Info[SchemaContext, None]) -> bool | Awaitable[bool]:
        if self.counted is not None:
            return self.counted.is_estimate
        return self._count(info, lambda total: total.is_estimate)

    async def _count(self, info: Info[SchemaContext, None], part: Callable[[Total], T]) -> T:
        async with info.context.connection() as conn:
            return part(await queries.count_clients(conn, self.filter))


@strawberry.type(description="The result of a client mutation.")
class ClientPayload:
    client: Client | None = strawberry.field(
        default=None, description="The client; null when refused."
    )
    warnings: list[str] = strawberry.field(
        default_factory=list,
        description="Things to know although it succeeded (an address awaiting its "
        "confirmation, say).",
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
