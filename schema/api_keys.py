"""API key types, inputs and payloads (SPEC 11.3)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.staff.api_keys import ApiKey as ApiKeyModel
from schema.common import UserError
from schema.ids import global_id
from schema.node import Node
from schema.staff import StaffRoleType


@strawberry.type(
    description="A key an integration or dashboard calls the API with, as "
    "`Authorization: Bearer <secret>`; its secret is shown only when it is made."
)
class ApiKey(Node):
    id: strawberry.ID = strawberry.field(description="The key's id, for revokeApiKey.")
    name: str = strawberry.field(description="What it is for, as its maker named it.")
    prefix: str = strawberry.field(
        description="The start of its secret (after `cdk_`), to tell keys apart; not secret."
    )
    role: StaffRoleType = strawberry.field(
        description="Whose permissions it acts with, less staff administration, API keys, "
        "login security and card reveal, which no key has."
    )
    created_at: datetime = strawberry.field(description="When it was made.")
    last_used_at: datetime | None = strawberry.field(
        description="When it was last used, to within a minute; null if never."
    )
    expires_at: datetime | None = strawberry.field(
        description="When it stops working; null: until revoked."
    )

    @classmethod
    def build(cls, key: ApiKeyModel) -> ApiKey:
        return cls(
            id=global_id("ApiKey", key.id),
            name=key.name,
            prefix=key.prefix,
            role=StaffRoleType.build(key.role),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            expires_at=key.expires_at,
        )


@strawberry.input(description="A new API key: its name, role and (optionally) expiry.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="What it is for (up to 255 characters).")
    role_id: strawberry.ID = strawberry.field(description="The role (staffRoles) it acts with.")
    expires_at: datetime | None = strawberry.field(
        default=None, description="When it stops working, with a time zone; omitted: never."
    )


@strawberry.type(description="The result of createApiKey: the key, and its secret this once.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(
        default=None, description="The key as made; null when refused."
    )
    secret: str | None = strawberry.field(
        default=None,
        description="The secret to send as `Authorization: Bearer <secret>`. Shown only now: "
        "only a hash of it is kept.",
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
