"""What schema types may ask of the request context (implemented in `resolvers.context`).

Declared here as a protocol so that types can resolve nested fields through the request's
DataLoaders without the schema layer importing the resolvers layer.
"""

from __future__ import annotations

from typing import Protocol

import asyncpg
from strawberry.dataloader import DataLoader

from domain.auth.viewer import Viewer
from domain.billing.models import BillableItem, Invoice, InvoiceItem, ServiceStatus, Transaction
from domain.cards.services import StoredCard
from domain.clients.models import Client
from domain.contacts.models import Contact
from domain.credit.ledger import CreditEntry
from domain.emails.outbox import Email
from domain.files.services import ClientFile
from domain.tickets.models import Ticket, TicketMessage


class Loaders(Protocol):
    sent_emails_by_client: DataLoader[int, list[Email]]
    contacts_by_client: DataLoader[int, list[Contact]]
    contact_by_id: DataLoader[int, Contact | None]
    client_by_id: DataLoader[int, Client | None]
    sent_email_by_id: DataLoader[int, Email | None]
    credit_log_by_client: DataLoader[int, list[CreditEntry]]
    services_by_client: DataLoader[int, list[BillableItem]]
    addons_by_client: DataLoader[int, list[BillableItem]]
    domains_by_client: DataLoader[int, list[BillableItem]]
    invoices_by_client: DataLoader[int, list[Invoice]]
    invoice_items_by_invoice: DataLoader[int, list[InvoiceItem]]
    transactions_by_client: DataLoader[int, list[Transaction]]
    files_by_client: DataLoader[int, list[ClientFile]]
    merged_from_by_client: DataLoader[int, list[int]]
    card_by_client: DataLoader[int, StoredCard | None]
    tickets_by_client: DataLoader[int, list[Ticket]]
    messages_by_ticket: DataLoader[int, list[TicketMessage]]


class SchemaContext(Protocol):
    pool: asyncpg.Pool
    loaders: Loaders

    async def get_viewer(self) -> Viewer | None: ...

    async def service_statuses(
        self, chosen: list[ServiceStatus] | None
    ) -> frozenset[ServiceStatus] | None: ...
