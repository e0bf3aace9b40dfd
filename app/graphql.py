"""The GraphQL schema: root Query and Mutation assembled from the per-area resolvers."""

from __future__ import annotations

import copy
import functools
import logging
from decimal import Decimal
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.types import ExecutionContext

from app.execution import ClientdeskExecutor
from app.graphql_documents import Documents, ParseOffLoop
from app.graphql_guards import RequestGuards, code_errors
from app.metrics import ObserveOperations
from app.outages import OUTAGE_MESSAGE, SERVICE_UNAVAILABLE, is_outage, log_failure
from app.query_limits import QueryCost, QueryLimits
from app.settings import Settings
from app.tracing import tracing_extensions
from resolvers import affiliates as affiliate_resolvers
from resolvers import api_keys as api_key_resolvers
from resolvers import audit as audit_resolvers
from resolvers import auth as auth_resolvers
from resolvers import automation as automation_resolvers
from resolvers import billing as billing_resolvers
from resolvers import cards as card_resolvers
from resolvers import catalogue as catalogue_resolvers
from resolvers import clients as client_resolvers
from resolvers import contacts as contact_resolvers
from resolvers import credit as credit_resolvers
from resolvers import dashboard as dashboard_resolvers
from resolvers import email_templates as email_template_resolvers
from resolvers import emails as email_resolvers
from resolvers import files as file_resolvers
from resolvers import gateways as gateway_resolvers
from resolvers import lifecycle as lifecycle_resolvers
from resolvers import lists as list_resolvers
from resolvers import node as node_resolvers
from resolvers import passwords as password_resolvers
from resolvers import payments as payment_resolvers
from resolvers import profile as profile_resolvers
from resolvers import quotes as quote_resolvers
from resolvers import settings as settings_resolvers
from resolvers import staff as staff_resolvers
from resolvers import subscriptions as subscription_resolvers
from resolvers import tickets as ticket_resolvers
from resolvers import two_factor as two_factor_resolvers
from resolvers.pagination import DEFAULT_PAGE_SIZE
from schema import money as money_scalar

log = logging.getLogger("clientdesk.graphql")

# Each area contributes its own root fields (`Queries`, `Mutations` in resolvers/<area>.py);
# the roots are their union, so adding an area adds one name here and nothing else.
Query = strawberry.type(
    type(
        "Query",
        (
            api_key_resolvers.Queries,
            audit_resolvers.Queries,
            auth_resolvers.Queries,
            automation_resolvers.Queries,
            billing_resolvers.Queries,
            catalogue_resolvers.Queries,
            list_resolvers.Queries,
            client_resolvers.Queries,
            contact_resolvers.Queries,
            dashboard_resolvers.Queries,
            email_resolvers.Queries,
            email_template_resolvers.Queries,
            gateway_resolvers.Queries,
            lifecycle_resolvers.Queries,
            node_resolvers.Queries,
            settings_resolvers.Queries,
            staff_resolvers.Queries,
            ticket_resolvers.Queries,
        ),
        {},
    ),
    description="Everything that can be read.",
)
Mutation = strawberry.type(
    type(
        "Mutation",
        (
            affiliate_resolvers.Mutations,
            api_key_resolvers.Mutations,
            auth_resolvers.Mutations,
            automation_resolvers.Mutations,
            billing_resolvers.Mutations,
            client_resolvers.Mutations,
            card_resolvers.Mutations,
            catalogue_resolvers.Mutations,
            contact_resolvers.Mutations,
            credit_resolvers.Mutations,
            email_resolvers.Mutations,
            email_template_resolvers.Mutations,
            lifecycle_resolvers.Mutations,
            file_resolvers.Mutations,
            gateway_resolvers.Mutations,
            password_resolvers.Mutations,
            payment_resolvers.Mutations,
            profile_resolvers.Mutations,
            quote_resolvers.Mutations,
            settings_resolvers.Mutations,
            staff_resolvers.Mutations,
            ticket_resolvers.Mutations,
            two_factor_resolvers.Mutations,
        ),
        {},
    ),
    description="Everything that can be changed.",
)


def _is_unexpected(error: GraphQLError) -> bool:
    """Errors we raise on purpose carry a message for the client; anything else is masked."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """Replace unexpected errors by a generic message with the request id to quote; an
    outage's says to try again (SERVICE_UNAVAILABLE, which the view answers with 503)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Internal error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        code = "INTERNAL_SERVER_ERROR"
        if is_outage(error.original_error):
            masked.message, code = OUTAGE_MESSAGE, SERVICE_UNAVAILABLE
        masked.extensions = {"code": code, "requestId": _request_id(self.execution_context)}
        return masked


def _request_id(execution_context: ExecutionContext | None) -> str | None:
    context: Any = execution_context.context if execution_context else None
    return getattr(context, "request_id", None)


class RememberingNameConverter(NameConverter):
    """Strawberry's names, each converted once: it converts the names of a field's
    arguments again on every call of the field (`client(id)`, `services(statuses)`)."""

    def __init__(self) -> None:
        super().__init__()
        self._converted: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._converted.get(name)
        if converted is None:
            converted = self._converted[name] = super().apply_naming_config(name)
        return converted


class ClientdeskSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry hands every error here once, whichever step failed: the one place to
        # give each its `extensions.code` before the response is made.
        code_errors(errors)
        request_id = _request_id(execution_context)
        for error in errors:
            if _is_unexpected(error):
                log_failure(
                    log,
                    error.original_error,
                    "request %s: %s at %s",
                    request_id,
                    error.message,
                    error.path,
                )
            else:
                log.debug("request %s: %s", request_id, error.message)


@functools.cache
def _converted_types() -> ClientdeskSchema:
    """The schema's types converted to graphql-core's, once per process: about 0.15 s of
    CPU that no setting changes (the suite makes an app, and so a schema, for each test)."""
    return ClientdeskSchema(
        query=Query,
        mutation=Mutation,
        subscription=subscription_resolvers.Subscription,
        execution_context_class=ClientdeskExecutor,
        config=StrawberryConfig(
            disable_field_suggestions=True,
            scalar_map={Decimal: money_scalar.DECIMAL},
            name_converter=RememberingNameConverter(),
        ),
    )


def build_schema(settings: Settings) -> strawberry.Schema:
    # Factories, so each request gets fresh extension instances; they share the schema's
    # parsed and validated documents. Validations are remembered by the rule classes too:
    # the rules are made once here, so that they can be found again.
    limits = QueryLimits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_query_aliases,
        max_fields=settings.max_query_fields,
    )
    documents = Documents()
    cost = QueryCost(max_cost=settings.max_query_cost, default_page=DEFAULT_PAGE_SIZE)
    rules: list[type[ASTValidationRule]] = (
        [] if settings.introspection_enabled else [NoSchemaIntrospectionCustomRule]
    )
    extensions: list[Any] = [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        # Parsing and validation are done in a worker thread (app/graphql_documents.py);
        # the depth, alias and expanded-field limits are checked before validation, in one
        # pass over the document (app/query_limits.py).
        lambda: ParseOffLoop(documents),
        lambda: RequestGuards(limits, documents, cost),
        MaskUnexpectedErrors,
        ObserveOperations,
        *tracing_extensions(settings),
    ]
    # The converted types are shared; the extensions (with their documents and limits) are
    # this schema's own. Strawberry's `info.schema` is therefore the shared, extension-less
    # one: read settings from the context, never from it.
    schema = copy.copy(_converted_types())
    schema.extensions = tuple(extensions)
    return schema
