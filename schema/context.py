"""What schema types may ask of the request context (implemented in `resolvers.context`).

Declared here as a protocol so that types can resolve nested fields through the request's
DataLoaders without the schema layer importing the resolvers layer.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import Protocol, TypeVar

import asyncpg
from strawberry.dataloader import DataLoader

from domain import dashboard
from domain.affiliates.models import Affiliate, Commission, Referral
from domain.auth.viewer import Viewer
from domain.billing.models import BillableItem, Invoice, InvoiceItem, Transaction
from domain.billing.status_filter import StatusFilter
from domain.cards.services import StoredCard
from domain.clients.models import Client
from domain.contacts.models import Contact
from domain.credit.ledger import CreditEntry
from domain.emails.log import ShownEmail
from domain.files.services import ClientFile
from domain.quotes.models import Quote
from domain.tickets.attachments import Attachment
from domain.tickets.models import Department, Ticket, TicketMessage

F = TypeVar("F")
# A nested list's DataLoader key: its parent's id, how many it shows (`first`, checked), and
# a filter of the list's own (None for most) applied before the cut.
Nested = tuple[int, int, F]
Statuses = frozenset[StrEnum] | None


class Loaders(Protocol):
    @property
    def dashboard_figures(self) -> DataLoader[dashboard.Part, dashboard.Figures]: ...

    @property
    def sent_emails_by_client(self) -> DataLoader[Nested[None], list[ShownEmail]]: ...

    @property
    def contacts_by_client(self) -> DataLoader[Nested[None], list[Contact]]: ...

    @property
    def contact_by_id(self) -> DataLoader[int, Contact | None]: ...

    @property
    def client_by_id(self) -> DataLoader[int, Client | None]: ...

    @property
    def sent_email_by_id(self) -> DataLoader[int, ShownEmail | None]: ...

    @property
    def credit_log_by_client(self) -> DataLoader[Nested[None], list[CreditEntry]]: ...

    # Keyed by the statuses asked for (None: not asked; SPEC 1.9).
    @property
    def services_by_client(self) -> DataLoader[Nested[Statuses], list[BillableItem]]: ...

    @property
    def addons_by_client(self) -> DataLoader[Nested[Statuses], list[BillableItem]]: ...

    @property
    def addons_by_service(self) -> DataLoader[Nested[None], list[BillableItem]]: ...

    @property
    def domains_by_client(self) -> DataLoader[Nested[Statuses], list[BillableItem]]: ...

    @property
    def invoices_by_client(self) -> DataLoader[Nested[None], list[Invoice]]: ...

    @property
    def invoice_items_by_invoice(self) -> DataLoader[int, list[InvoiceItem]]: ...

    @property
    def transactions_by_client(self) -> DataLoader[Nested[None], list[Transaction]]: ...

    @property
    def files_by_client(self) -> DataLoader[Nested[bool], list[ClientFile]]: ...

    @property
    def merged_from_by_client(self) -> DataLoader[int, list[int]]: ...

    @property
    def card_by_client(self) -> DataLoader[int, StoredCard | None]: ...

    @property
    def tickets_by_client(self) -> DataLoader[Nested[None], list[Ticket]]: ...

    @property
    def messages_by_ticket(self) -> DataLoader[int, list[TicketMessage]]: ...

    @property
    def department_by_id(self) -> DataLoader[int, Department | None]: ...

    @property
    def attachments_by_message(self) -> DataLoader[int, list[Attachment]]: ...

    @property
    def attachment_by_id(self) -> DataLoader[int, Attachment | None]: ...

    @property
    def invoice_by_id(self) -> DataLoader[int, Invoice | None]: ...

    @property
    def quotes_by_client(self) -> DataLoader[Nested[bool], list[Quote]]: ...

    @property
    def affiliate_by_client(self) -> DataLoader[int, Affiliate | None]: ...

    @property
    def referrals_by_affiliate(self) -> DataLoader[Nested[None], list[Referral]]: ...

    @property
    def commissions_by_affiliate(self) -> DataLoader[Nested[None], list[Commission]]: ...


class SchemaContext(Protocol):
    loaders: Loaders

    @property
    def client_area_url(self) -> str: ...

    def connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]: ...

    async def get_viewer(self) -> Viewer | None: ...

    async def product_status_filter(self) -> StatusFilter | None: ...
