"""Contacts of a client, some of them sub-accounts that log in (SPEC 2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from domain.auth.permissions import ContactPermission
from domain.emails.templates import EmailCategory

# The categories a contact can tick to receive copies of client emails (SPEC 2.2).
PREFERENCE_CATEGORIES = (
    EmailCategory.GENERAL,
    EmailCategory.INVOICE,
    EmailCategory.SUPPORT,
    EmailCategory.PRODUCT,
    EmailCategory.DOMAIN,
    EmailCategory.AFFILIATE,
)


@dataclass(frozen=True)
class Contact:
    id: int
    client_id: int
    login_id: int | None
    first_name: str
    last_name: str
    company_name: str | None
    email: str
    phone_number: str | None
    address1: str | None
    address2: str | None
    city: str | None
    state: str | None
    postcode: str | None
    country: str | None
    email_preferences: frozenset[EmailCategory]
    permissions: frozenset[ContactPermission]
    invited_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def sub_account(self) -> bool:
        """A sub-account is a contact with a login of its own, or invited to make one."""
        return self.login_id is not None or self.invited_at is not None

    @property
    def invitation_pending(self) -> bool:
        """A sub-account that cannot log in yet: no one has accepted its invitation."""
        return self.invited_at is not None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


CONTACT_COLUMNS = """id, client_id, login_id, first_name, last_name, company_name,
    email::text AS email, phone_number, address1, address2, city, state, postcode, country,
    email_preferences, permissions, invited_at, created_at, updated_at"""


def contact_from_row(row: asyncpg.Record) -> Contact:
    values = dict(row)
    values["email_preferences"] = frozenset(EmailCategory(c) for c in row["email_preferences"])
    values["permissions"] = frozenset(ContactPermission(p) for p in row["permissions"])
    return Contact(**values)
