"""DataLoaders, one set per request: each batches a nested field into one query per level."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from functools import cached_property
from typing import TypeVar

import asyncpg
from strawberry.dataloader import DataLoader

from domain import dashboard
from domain.affiliates import services as affiliates
from domain.affiliates.models import Affiliate, Commission, Referral
from domain.billing import invoices, items, payments
from domain.billing.models import (
    BillableItem,
    Invoice,
    InvoiceItem,
    ItemKind,
    Transaction,
)
from domain.cards.services import StoredCard, cards_by_client
from domain.clients import merge
from domain.clients import queries as client_queries
from domain.clients.models import Client
from domain.contacts import services as contact_services
from domain.contacts.models import Contact
from domain.credit import ledger
from domain.credit.ledger import CreditEntry
from domain.emails import log as email_log
from domain.emails.log import ShownEmail
from domain.files import services as file_services
from domain.files.services import ClientFile
from domain.quotes import services as quotes
from domain.quotes.models import Quote
from domain.reference_cache import ReferenceCache
from domain.tickets import attachments, departments
from domain.tickets import reading as tickets
from domain.tickets.attachments import Attachment
from domain.tickets.models import Department, Ticket, TicketMessage
from resolvers.connection import RequestConnection
from schema.context import Nested

T = TypeVar("T")
F = TypeVar("F")
Fetch = Callable[[asyncpg.Connection, list[int], int, F], Awaitable[dict[int, list[T]]]]
# The statuses asked for of a client's services, addons or domains (None: not asked).
Statuses = frozenset[StrEnum] | None
# The statuses such a list shows, from those asked for (SPEC 1.9).
ProductStatuses = Callable[[ItemKind, Statuses], Awaitable[Statuses]]


class Loaders:
    def __init__(
        self,
        db: RequestConnection,
        reference: ReferenceCache,
        product_statuses: ProductStatuses,
    ) -> None:
        self._db = db
        self._reference = reference
        self._product_statuses = product_statuses

    @cached_property
    def dashboard_figures(self) -> DataLoader[dashboard.Part, dashboard.Figures]:
        """Every figure the dashboard's fields ask for, read in one statement."""
        return DataLoader(self._load_dashboard)

    # Made when first used: most requests use one or two of them.
    @cached_property
    def sent_emails_by_client(self) -> DataLoader[Nested[None], list[ShownEmail]]:
        return self._nested(
            lambda conn, ids, most, _: email_log.sent_emails_by_client(conn, ids, per_client=most)
        )

    @cached_property
    def contacts_by_client(self) -> DataLoader[Nested[None], list[Contact]]:
        return self._nested(
            lambda conn, ids, most, _: contact_services.contacts_by_client(
                conn, ids, per_client=most
            )
        )

    @cached_property
    def contact_by_id(self) -> DataLoader[int, Contact | None]:
        return DataLoader(self._load_contact_by_id)

    @cached_property
    def client_by_id(self) -> DataLoader[int, Client | None]:
        return DataLoader(self._load_client_by_id)

    @cached_property
    def sent_email_by_id(self) -> DataLoader[int, ShownEmail | None]:
        return DataLoader(self._load_sent_email_by_id)

    @cached_property
    def credit_log_by_client(self) -> DataLoader[Nested[None], list[CreditEntry]]:
        return self._nested(
            lambda conn, ids, most, _: ledger.entries_by_client(conn, ids, per_client=most)
        )

    @cached_property
    def services_by_client(self) -> DataLoader[Nested[Statuses], list[BillableItem]]:
        return self._items_loader(ItemKind.SERVICE)

    @cached_property
    def addons_by_client(self) -> DataLoader[Nested[Statuses], list[BillableItem]]:
        return self._items_loader(ItemKind.ADDON)

    @cached_property
    def addons_by_service(self) -> DataLoader[Nested[None], list[BillableItem]]:
        return self._nested(
            lambda conn, ids, most, _: items.addons_by_service(conn, ids, per_service=most)
        )

    @cached_property
    def domains_by_client(self) -> DataLoader[Nested[Statuses], list[BillableItem]]:
        return self._items_loader(ItemKind.DOMAIN)

    @cached_property
    def invoices_by_client(self) -> DataLoader[Nested[None], list[Invoice]]:
        return self._nested(
            lambda conn, ids, most, _: invoices.invoices_by_client(conn, ids, per_client=most)
        )

    @cached_property
    def invoice_items_by_invoice(self) -> DataLoader[int, list[InvoiceItem]]:
        return DataLoader(self._load_invoice_items_by_invoice)

    @cached_property
    def transactions_by_client(self) -> DataLoader[Nested[None], list[Transaction]]:
        return self._nested(
            lambda conn, ids, most, _: payments.transactions_by_client(conn, ids, per_client=most)
        )

    @cached_property
    def card_by_client(self) -> DataLoader[int, StoredCard | None]:
        return DataLoader(self._load_card_by_client)

    @cached_property
    def tickets_by_client(self) -> DataLoader[Nested[None], list[Ticket]]:
        return self._nested(
            lambda conn, ids, most, _: tickets.tickets_by_client(conn, ids, per_client=most)
        )

    @cached_property
    def ticket_by_id(self) -> DataLoader[int, Ticket | None]:
        return DataLoader(self._load_ticket_by_id)

    @cached_property
    def messages_by_ticket(self) -> DataLoader[int, list[TicketMessage]]:
        return DataLoader(self._load_messages_by_ticket)

    @cached_property
    def message_by_id(self) -> DataLoader[int, TicketMessage | None]:
        return DataLoader(self._load_message_by_id)

    @cached_property
    def department_by_id(self) -> DataLoader[int, Department | None]:
        return DataLoader(self._load_department_by_id)

    @cached_property
    def attachments_by_message(self) -> DataLoader[int, list[Attachment]]:
        return DataLoader(self._load_attachments_by_message)

    @cached_property
    def attachment_by_id(self) -> DataLoader[int, Attachment | None]:
        return DataLoader(self._load_attachment_by_id)

    @cached_property
    def merged_from_by_client(self) -> DataLoader[int, list[int]]:
        return DataLoader(self._load_merged_from_by_client)

    @cached_property
    def files_by_client(self) -> DataLoader[Nested[bool], list[ClientFile]]:
        """Keyed by whether the admin-only files are shown (to staff)."""
        return self._nested(
            lambda conn, ids, most, admin_only: file_services.files_by_client(
                conn, ids, per_client=most, admin_only=admin_only
            )
        )

    @cached_property
    def invoice_by_id(self) -> DataLoader[int, Invoice | None]:
        return DataLoader(self._load_invoice_by_id)

    @cached_property
    def quotes_by_client(self) -> DataLoader[Nested[bool], list[Quote]]:
        """Keyed by whether drafts are shown (to staff)."""
        return self._nested(
            lambda conn, ids, most, drafts: quotes.quotes_by_client(
                conn, ids, per_client=most, drafts=drafts
            )
        )

    @cached_property
    def quote_by_id(self) -> DataLoader[int, Quote | None]:
        return DataLoader(self._load_quote_by_id)

    @cached_property
    def affiliate_by_client(self) -> DataLoader[int, Affiliate | None]:
        return DataLoader(self._load_affiliate_by_client)

    @cached_property
    def referrals_by_affiliate(self) -> DataLoader[Nested[None], list[Referral]]:
        return self._nested(
            lambda conn, ids, most, _: affiliates.referrals_by_affiliate(
                conn, ids, per_affiliate=most
            )
        )

    @cached_property
    def commissions_by_affiliate(self) -> DataLoader[Nested[None], list[Commission]]:
        return self._nested(
            lambda conn, ids, most, _: affiliates.commissions_by_affiliate(
                conn, ids, per_affiliate=most
            )
        )

    async def _load_dashboard(self, parts: Sequence[dashboard.Part]) -> list[dashboard.Figures]:
        settings = await self._reference.automation_settings(self._db.use)
        async with self._db.use() as conn:
            figures = await dashboard.read(conn, parts, settings)
        return [figures] * len(parts)

    async def _load_contact_by_id(self, contact_ids: Sequence[int]) -> list[Contact | None]:
        async with self._db.use() as conn:
            by_id = await contact_services.contacts_by_ids(conn, contact_ids)
        return [by_id.get(cid) for cid in contact_ids]

    async def _load_client_by_id(self, client_ids: Sequence[int]) -> list[Client | None]:
        async with self._db.use() as conn:
            by_id = await client_queries.clients_by_ids(conn, client_ids)
        return [by_id.get(cid) for cid in client_ids]

    async def _load_sent_email_by_id(self, email_ids: Sequence[int]) -> list[ShownEmail | None]:
        async with self._db.use() as conn:
            by_id = await email_log.sent_emails_by_ids(conn, email_ids)
        return [by_id.get(eid) for eid in email_ids]

    def _items_loader(self, kind: ItemKind) -> DataLoader[Nested[Statuses], list[BillableItem]]:
        """Keyed by the statuses asked for: the batch resolves (and remembers) the filter
        once, after every client of the page has asked (SPEC 1.9)."""

        async def fetch(
            conn: asyncpg.Connection, ids: list[int], most: int, chosen: Statuses
        ) -> dict[int, list[BillableItem]]:
            shown = await self._product_statuses(kind, chosen)
            return await items.items_by_client(conn, kind, ids, statuses=shown, per_client=most)

        return self._nested(fetch)

    def _nested(self, fetch: Fetch[F, T]) -> DataLoader[Nested[F], list[T]]:
        """A nested list's loader: each parent's first rows, cut in the statement (at the
        largest `first` of the batch, then each key's own), one statement per level, or per
        filter when one request asks with several."""

        async def load(keys: Sequence[Nested[F]]) -> list[list[T]]:
            found: dict[F, dict[int, list[T]]] = {}
            async with self._db.use() as conn:
                for only in dict.fromkeys(key[2] for key in keys):
                    asked = [key for key in keys if key[2] == only]
                    parents = list(dict.fromkeys(key[0] for key in asked))
                    found[only] = await fetch(conn, parents, max(key[1] for key in asked), only)
            return [found[only][pk][:first] for pk, first, only in keys]

        return DataLoader(load)

    async def _load_invoice_items_by_invoice(
        self, invoice_ids: Sequence[int]
    ) -> list[list[InvoiceItem]]:
        async with self._db.use() as conn:
            by_invoice = await invoices.items_by_invoice(conn, invoice_ids)
        return [by_invoice[iid] for iid in invoice_ids]

    async def _load_merged_from_by_client(self, client_ids: Sequence[int]) -> list[list[int]]:
        async with self._db.use() as conn:
            by_client = await merge.merged_from_by_client(conn, list(client_ids))
        return [by_client[cid] for cid in client_ids]

    async def _load_card_by_client(self, client_ids: Sequence[int]) -> list[StoredCard | None]:
        async with self._db.use() as conn:
            by_client = await cards_by_client(conn, client_ids)
        return [by_client.get(cid) for cid in client_ids]

    async def _load_ticket_by_id(self, ticket_ids: Sequence[int]) -> list[Ticket | None]:
        async with self._db.use() as conn:
            by_id = await tickets.tickets_by_ids(conn, ticket_ids)
        return [by_id.get(tid) for tid in ticket_ids]

    async def _load_messages_by_ticket(
        self, ticket_ids: Sequence[int]
    ) -> list[list[TicketMessage]]:
        async with self._db.use() as conn:
            by_ticket = await tickets.messages_by_ticket(conn, ticket_ids)
        return [by_ticket[tid] for tid in ticket_ids]

    async def _load_message_by_id(self, message_ids: Sequence[int]) -> list[TicketMessage | None]:
        async with self._db.use() as conn:
            by_id = await tickets.messages_by_ids(conn, message_ids)
        return [by_id.get(mid) for mid in message_ids]

    async def _load_department_by_id(
        self, department_ids: Sequence[int]
    ) -> list[Department | None]:
        async with self._db.use() as conn:
            by_id = await departments.departments_by_ids(conn, department_ids)
        return [by_id.get(did) for did in department_ids]

    async def _load_attachments_by_message(
        self, message_ids: Sequence[int]
    ) -> list[list[Attachment]]:
        async with self._db.use() as conn:
            by_message = await attachments.attachments_by_message(conn, message_ids)
        return [by_message[mid] for mid in message_ids]

    async def _load_attachment_by_id(self, ids: Sequence[int]) -> list[Attachment | None]:
        async with self._db.use() as conn:
            by_id = await attachments.attachments_by_ids(conn, ids)
        return [by_id.get(aid) for aid in ids]

    async def _load_invoice_by_id(self, invoice_ids: Sequence[int]) -> list[Invoice | None]:
        async with self._db.use() as conn:
            by_id = await invoices.invoices_by_ids(conn, invoice_ids)
        return [by_id.get(iid) for iid in invoice_ids]

    async def _load_quote_by_id(self, quote_ids: Sequence[int]) -> list[Quote | None]:
        async with self._db.use() as conn:
            by_id = await quotes.quotes_by_ids(conn, quote_ids)
        return [by_id.get(qid) for qid in quote_ids]

    async def _load_affiliate_by_client(self, client_ids: Sequence[int]) -> list[Affiliate | None]:
        async with self._db.use() as conn:
            by_client = await affiliates.affiliates_by_client(conn, client_ids)
        return [by_client.get(cid) for cid in client_ids]
