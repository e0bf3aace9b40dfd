"""Types of merging, deleting and exporting clients (SPEC 7, GDPR articles 15 and 20)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain.clients import merge

MergeKeep = strawberry.enum(merge.MergeKeep, description="Which of the two clients' profile stays.")


@strawberry.type(description="Everything the system holds about one client, as one document.")
class ClientExport:
    document: JSON = strawberry.field(
        description="The profile, contacts, services, addons, domains, orders, invoices, "
        "transactions, credit log, card (as staff see it), email log, merged ids and audit "
        "entries; never a password hash, token, TOTP secret or card number."
    )
    generated_at: datetime = strawberry.field(description="When the document was made.")
