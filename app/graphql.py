"""The GraphQL schema: root Query and Mutation assembled from the per-area resolvers."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app.settings import Settings
from domain.auth.permissions import ContactPermission, StaffPermission
from resolvers import auth as auth_resolvers
from resolvers import clients as client_resolvers
from resolvers import contacts as contact_resolvers
from resolvers import emails as email_resolvers
from resolvers import settings as settings_resolvers
from resolvers.permissions import client_area, logged_in, staff
from schema.auth import LoginPayload, Viewer
from schema.clients import Client, ClientConnection, ClientPayload
from schema.common import OkPayload
from schema.contacts import Contact, ContactPayload
from schema.emails import EmailTemplatePreview
from schema.settings import GeneralSettings, GeneralSettingsPayload

log = logging.getLogger("clientdesk.graphql")

VIEW = StaffPermission.VIEW_CLIENTS
EDIT = StaffPermission.EDIT_CLIENTS
SETTINGS = StaffPermission.MANAGE_SETTINGS


@strawberry.type(description="Everything that can be read.")
class Query:
    viewer: Viewer | None = strawberry.field(
        resolver=auth_resolvers.viewer, description="Who is logged in; null when nobody is."
    )
    clients: ClientConnection = strawberry.field(
        resolver=client_resolvers.clients,
        extensions=staff(VIEW),
        description="Clients, searched, filtered, sorted and paged (staff).",
    )
    client: Client | None = strawberry.field(
        resolver=client_resolvers.client, extensions=staff(VIEW), description="One client (staff)."
    )
    contact: Contact | None = strawberry.field(
        resolver=contact_resolvers.contact,
        extensions=staff(VIEW),
        description="One contact of any client (staff).",
    )
    me: Client | None = strawberry.field(
        resolver=client_resolvers.me,
        extensions=client_area(),
        description="The client-area viewer's own client account.",
    )
    email_template_previews: list[EmailTemplatePreview] = strawberry.field(
        resolver=email_resolvers.email_template_previews,
        extensions=staff(StaffPermission.VIEW_EMAILS),
        description="Every email template rendered against sample data (staff).",
    )
    general_settings: GeneralSettings = strawberry.field(
        resolver=settings_resolvers.general_settings,
        extensions=logged_in(),
        description="General settings of the installation.",
    )


@strawberry.type(description="Everything that can be changed.")
class Mutation:
    login: LoginPayload = strawberry.field(
        resolver=auth_resolvers.login,
        description="Log in with email and password (and TOTP code when 2FA is on).",
    )
    logout: bool = strawberry.field(resolver=auth_resolvers.logout, description="End this session.")
    add_client: ClientPayload = strawberry.field(
        resolver=client_resolvers.add_client,
        extensions=staff(EDIT),
        description="Add a client; queues the welcome email unless told not to.",
    )
    update_client: ClientPayload = strawberry.field(
        resolver=client_resolvers.update_client,
        extensions=staff(EDIT),
        description="Change a client's profile fields and flags; omitted fields stay.",
    )
    set_client_status: ClientPayload = strawberry.field(
        resolver=client_resolvers.set_client_status,
        extensions=staff(EDIT),
        description="Set ACTIVE, INACTIVE or CLOSED; CLOSED ends the client's sessions.",
    )
    set_default_billing_contact: ClientPayload = strawberry.field(
        resolver=client_resolvers.set_default_billing_contact,
        extensions=staff(EDIT),
        description="Address the client's invoices to one of its contacts (null: the client).",
    )
    send_client_email: OkPayload = strawberry.field(
        resolver=client_resolvers.send_client_email,
        extensions=staff(EDIT),
        description="Send the client a client email template now, with contact copies.",
    )
    add_contact: ContactPayload = strawberry.field(
        resolver=contact_resolvers.add_contact,
        extensions=staff(EDIT),
        description="Add a contact or sub-account to a client.",
    )
    update_contact: ContactPayload = strawberry.field(
        resolver=contact_resolvers.update_contact,
        extensions=staff(EDIT),
        description="Change a contact; omitted fields stay.",
    )
    delete_contact: OkPayload = strawberry.field(
        resolver=contact_resolvers.delete_contact,
        extensions=staff(EDIT),
        description="Delete a contact and its login; it stops being the billing contact.",
    )
    update_my_profile: ClientPayload = strawberry.field(
        resolver=client_resolvers.update_my_profile,
        extensions=client_area(ContactPermission.PROFILE),
        description="Client area: change the account's own profile (its email: holder only).",
    )
    add_my_contact: ContactPayload = strawberry.field(
        resolver=contact_resolvers.add_my_contact,
        extensions=client_area(ContactPermission.CONTACTS),
        description="Client area: add a contact (sub-accounts: account holder only).",
    )
    update_my_contact: ContactPayload = strawberry.field(
        resolver=contact_resolvers.update_my_contact,
        extensions=client_area(ContactPermission.CONTACTS),
        description="Client area: change one of the account's contacts.",
    )
    delete_my_contact: OkPayload = strawberry.field(
        resolver=contact_resolvers.delete_my_contact,
        extensions=client_area(ContactPermission.CONTACTS),
        description="Client area: delete a contact (sub-accounts: account holder only).",
    )
    update_general_settings: GeneralSettingsPayload = strawberry.field(
        resolver=settings_resolvers.update_general_settings,
        extensions=staff(SETTINGS),
        description="Change general settings such as the client display format.",
    )


def _is_unexpected(error: GraphQLError) -> bool:
    """Errors we raise on purpose carry a message for the client; anything else is masked."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """Replace unexpected errors by a generic message with the request id to quote."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Internal error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {
            "code": "INTERNAL_SERVER_ERROR",
            "requestId": _request_id(self.execution_context),
        }
        return masked


def _request_id(execution_context: ExecutionContext | None) -> str | None:
    context: Any = execution_context.context if execution_context else None
    return getattr(context, "request_id", None)


class ClientdeskSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        request_id = _request_id(execution_context)
        for error in errors:
            if _is_unexpected(error):
                log.error(
                    "request %s: %s at %s",
                    request_id,
                    error.message,
                    error.path,
                    exc_info=error.original_error,
                )
            else:
                log.debug("request %s: %s", request_id, error.message)


def build_schema(settings: Settings) -> strawberry.Schema:
    # Factories, so each request gets fresh extension instances; the parser and validation
    # caches are shared across instances by Strawberry itself. The validation cache is keyed
    # by the rule classes, and the depth and alias limiters create a new rule class each time
    # they are instantiated: their rules are made once here (and added by one extension, in
    # the same order), so that the cache can hit.
    limit_rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_query_aliases).validation_rules,
    ]
    extensions: list[Any] = [
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        MaskUnexpectedErrors,
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    return ClientdeskSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=True),
    )
