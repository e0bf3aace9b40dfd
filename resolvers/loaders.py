"""DataLoaders, one set per request: each batches a nested field into one query per level."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from strawberry.dataloader import DataLoader

from domain.cards.services import StoredCard, cards_by_client
from domain.contacts import services as contact_services
from domain.contacts.models import Contact
from domain.emails import outbox
from domain.emails.outbox import Email


class Loaders:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.sent_emails_by_client: DataLoader[int, list[Email]] = DataLoader(
            self._load_sent_emails_by_client
        )
        self.contacts_by_client: DataLoader[int, list[Contact]] = DataLoader(
            self._load_contacts_by_client
        )
        self.contact_by_id: DataLoader[int, Contact | None] = DataLoader(self._load_contact_by_id)
        self.card_by_client: DataLoader[int, StoredCard | None] = DataLoader(
            self._load_card_by_client
        )

    async def _load_sent_emails_by_client(self, client_ids: Sequence[int]) -> list[list[Email]]:
        async with self._pool.acquire() as conn:
            by_client = await outbox.sent_emails_by_client(conn, list(client_ids))
        return [by_client[cid] for cid in client_ids]

    async def _load_contacts_by_client(self, client_ids: Sequence[int]) -> list[list[Contact]]:
        async with self._pool.acquire() as conn:
            by_client = await contact_services.contacts_by_client(conn, client_ids)
        return [by_client[cid] for cid in client_ids]

    async def _load_contact_by_id(self, contact_ids: Sequence[int]) -> list[Contact | None]:
        async with self._pool.acquire() as conn:
            by_id = await contact_services.contacts_by_ids(conn, contact_ids)
        return [by_id.get(cid) for cid in contact_ids]

    async def _load_card_by_client(self, client_ids: Sequence[int]) -> list[StoredCard | None]:
        async with self._pool.acquire() as conn:
            by_client = await cards_by_client(conn, client_ids)
        return [by_client.get(cid) for cid in client_ids]
