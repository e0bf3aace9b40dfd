"""Who may call every root field (SPEC 2.4, 10.1), generated from the built schema.

RULES says, for each root field of Query and Mutation, who may call it; the cases follow
from the rule: anonymous, a client's account holder, a sub-account without the permission
needed, and staff without it (each role lacking it; for the client area even ADMIN) are
refused with UNAUTHENTICATED / FORBIDDEN and change nothing, and the right viewer is
allowed. Another client's account holder, calling what the holder may call on the first
client's object ids, finds nothing (a payload's NOT_FOUND, or null) and changes nothing: that
case is derived from each rule (`with_another_client`), not written per field. A root field
without a rule fails `test_every_root_field_has_an_access_rule`: adding an operation means
adding its line here, e.g.

    "failedEmails": staff(StaffPermission.VIEW_EMAILS, "failedEmails { totalCount }"),
    "invoice": staff(VIEW, "invoice(id: $invoice) { id total }"),
    "transactions": staff(VIEW, "transactions(clientId: $client) { edges { cursor } }"),
    "taxRules": staff(VIEW, "taxRules { id rate }"),
    "automationSettings": staff(SETTINGS, "automationSettings { runAt lateFeeDays }"),
    "automationRuns": staff(SETTINGS, "automationRuns(first: 1) { totalCount }"),
    "node": logged_in("node(id: $client) { id }").but(sub_account(set()), NULL),

Sessions are opened on the domain directly: no password is hashed here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from domain.affiliates import services as affiliates
from domain.auth import api_keys, sessions
from domain.auth.permissions import (
    ROLE_PERMISSIONS,
    ContactPermission,
    StaffPermission,
    StaffRole,
)
from domain.billing import invoices, orders, tax
from domain.billing.models import ItemKind
from domain.cards import services as cards
from domain.cards.crypto import CardKeyring
from domain.catalogue import products
from domain.clients import services as client_services
from domain.credit import services as credit_services
from domain.quotes import services as quotes
from domain.tickets import services as tickets
from resolvers.permissions import input_fields_needing
from schema.client_inputs import UpdateClientInput
from tests.api.introspection import root_fields
from tests.conftest import CARD_KEY, CLIENT_AREA_URL, gid, gql, pay_by_transfer, turn_on_two_factor

TTL = timedelta(hours=1)
# ALLOWED: no error and a result; NULL / EMPTY: no error, but null (or only nulls) / an
# empty list or connection, where the contract answers so instead of refusing.
ALLOWED, NULL, EMPTY = "ALLOWED", "NULL", "EMPTY"
# NOT_FOUND: no error, but the payload's errors are NOT_FOUND alone and it carries nothing.
NOT_FOUND = "NOT_FOUND"
UNAUTHENTICATED, FORBIDDEN = "UNAUTHENTICATED", "FORBIDDEN"
# The variables a selection may use; the test declares those it uses.
VARIABLES = {
    "$client": "ID!",
    "$otherClient": "ID!",
    "$contact": "ID!",
    "$failedEmail": "ID!",
    "$order": "ID!",
    "$service": "ID!",
    "$domain": "ID!",
    "$invoice": "ID!",
    "$transaction": "ID!",
    "$creditEntry": "ID!",
    "$taxRule": "ID!",
    "$ticket": "ID!",
    "$file": "ID!",
    "$subAccount": "ID!",
    "$upload": "Upload!",  # sent as a multipart request with a small file
    "$staff": "ID!",
    "$role": "ID!",
    "$unusedRole": "ID!",
    "$apiKey": "ID!",
    "$product": "ID!",
    "$quote": "ID!",
}
STATE_TABLES = (
    "clients",
    "services",
    "addons",
    "domains",
    "invoices",
    "credit_log",
    "transactions",
    "cards",
    "audit_log",
    "contacts",
    "logins",
    "sessions",
    "staff",
    "staff_roles",
    "password_tokens",
    "settings",
    "emails",
    "tickets",
    "ticket_messages",
    "ticket_departments",
    "client_files",
    "recovery_codes",
    "api_keys",
    "payment_gateways",
    "orders",
    "products",
    "product_groups",
    "product_prices",
    "cancellation_requests",
    "quotes",
    "quote_lines",
    "affiliates",
    "affiliate_referrals",
    "affiliate_commissions",
    "affiliate_payouts",
)


@dataclass(frozen=True)
class As:
    """A viewer: anonymous, the account holder, a sub-account with `granted`, staff with a
    built-in `role` or a custom role holding `custom`, or an API key (kind "api_key") with a
    custom role holding `custom`."""

    kind: str
    granted: frozenset[ContactPermission] = frozenset()
    role: StaffRole | None = None
    custom: frozenset[StaffPermission] | None = None

    def __str__(self) -> str:
        if self.kind == "sub_account":
            return f"sub_account[{'+'.join(sorted(self.granted)) or 'none'}]"
        if self.kind == "api_key":
            assert self.custom is not None
            held = "all" if self.custom == set(StaffPermission) else "+".join(sorted(self.custom))
            return f"api_key[custom:{held}]"
        if self.custom is not None:
            if len(self.custom) * 2 > len(StaffPermission):
                return (
                    f"staff[custom:all-but-{'+'.join(sorted(set(StaffPermission) - self.custom))}]"
                )
            return f"staff[custom:{'+'.join(sorted(self.custom))}]"
        return f"staff[{self.role}]" if self.role else self.kind


ANONYMOUS = As("anonymous")
HOLDER = As("holder")
# The account holder of another client than the one whose ids the selections name.
ANOTHER_CLIENT = As("another_client")


def sub_account(granted: frozenset[ContactPermission] | set[ContactPermission]) -> As:
    return As("sub_account", frozenset(granted))


def staff_member(role: StaffRole) -> As:
    return As("staff", role=role)


def custom_role(permissions: set[StaffPermission]) -> As:
    """A staff member whose custom role (SPEC 11.1) holds exactly `permissions`."""
    return As("staff", custom=frozenset(permissions))


def api_key(permissions: set[StaffPermission]) -> As:
    """An API key (SPEC 11.3) whose custom role holds exactly `permissions`."""
    return As("api_key", custom=frozenset(permissions))


# An API key whose role holds every permission: what a key can do at most.
ALL_POWERFUL_KEY = api_key(set(StaffPermission))
# What no key does, whatever its role holds (domain/auth/api_keys.py).
NEVER_FOR_KEYS = {StaffPermission.MANAGE_STAFF, StaffPermission.MANAGE_LOGIN_SECURITY}


# A custom role holding this one permission is tried on every staff field: allowed exactly
# those that need it.
ONE_PERMISSION = StaffPermission.VIEW_AUDIT_LOG


@dataclass(frozen=True)
class Rule:
    """A root field with its arguments and a selection set, and what each viewer gets."""

    selection: str
    outcomes: dict[As, str] = field(default_factory=dict)

    def but(self, viewer: As, outcome: str) -> Rule:
        """This rule with another outcome for `viewer`, e.g. `.but(ANONYMOUS, NULL)`."""
        return Rule(self.selection, {**self.outcomes, viewer: outcome})


def staff(permission: StaffPermission, selection: str) -> Rule:
    """Staff holding `permission` (tried with the least-privileged role holding it)."""
    holding = [role for role in reversed(StaffRole) if permission in ROLE_PERMISSIONS[role]]
    lacking = [role for role in StaffRole if role not in holding]
    return Rule(
        selection,
        {
            ANONYMOUS: UNAUTHENTICATED,
            HOLDER: FORBIDDEN,
            sub_account(ContactPermission): FORBIDDEN,
            **{staff_member(role): FORBIDDEN for role in lacking},
            staff_member(holding[0]): ALLOWED,
            # Custom roles: every other permission is not enough, the permission alone is.
            custom_role(set(StaffPermission) - {permission}): FORBIDDEN,
            custom_role({ONE_PERMISSION}): FORBIDDEN,
            custom_role({permission}): ALLOWED,
            # API keys: the permission alone is enough, and every permission is not enough
            # for those no key holds.
            api_key({permission}): FORBIDDEN if permission in NEVER_FOR_KEYS else ALLOWED,
            ALL_POWERFUL_KEY: FORBIDDEN if permission in NEVER_FOR_KEYS else ALLOWED,
        },
    )


def client_area(permission: ContactPermission | None, selection: str) -> Rule:
    """The account holder, and a sub-account granted `permission` (None: any sub-account)."""
    needed = {permission} if permission else set()
    return Rule(
        selection,
        {
            ANONYMOUS: UNAUTHENTICATED,
            staff_member(StaffRole.ADMIN): FORBIDDEN,
            ALL_POWERFUL_KEY: FORBIDDEN,
            sub_account(set(ContactPermission) - needed): FORBIDDEN if permission else ALLOWED,
            sub_account(needed): ALLOWED,
            HOLDER: ALLOWED,
        },
    )


def logged_in(selection: str) -> Rule:
    return Rule(
        selection,
        {
            ANONYMOUS: UNAUTHENTICATED,
            HOLDER: ALLOWED,
            sub_account(set()): ALLOWED,
            staff_member(StaffRole.READ_ONLY): ALLOWED,
            ALL_POWERFUL_KEY: ALLOWED,
        },
    )


def own_login(selection: str) -> Rule:
    """Any login changing itself (its password, its two-factor): not an API key, which has
    no login of its own."""
    return logged_in(selection).but(ALL_POWERFUL_KEY, FORBIDDEN)


def public(selection: str) -> Rule:
    return Rule(
        selection,
        {
            ANONYMOUS: ALLOWED,
            HOLDER: ALLOWED,
            sub_account(set()): ALLOWED,
            staff_member(StaffRole.READ_ONLY): ALLOWED,
            ALL_POWERFUL_KEY: ALLOWED,
        },
    )


ERRORS = "errors { field code message }"
VIEW, EDIT = StaffPermission.VIEW_CLIENTS, StaffPermission.EDIT_CLIENTS
BILLING, CARDS = StaffPermission.MANAGE_BILLING, StaffPermission.MANAGE_CARDS
SETTINGS = StaffPermission.MANAGE_SETTINGS
MANAGE_STAFF = StaffPermission.MANAGE_STAFF
CONTACTS, PROFILE = ContactPermission.CONTACTS, ContactPermission.PROFILE
TICKETS = ContactPermission.TICKETS
NEW_CLIENT = 'firstName: "New", lastName: "Client", email: "new@example.com"'
NEW_CONTACT = 'firstName: "New", lastName: "Contact", email: "new-contact@example.com"'


def catalogue(selection: str) -> Rule:
    """What staff with VIEW_CLIENTS and every client-area login read (SPEC 14.1)."""
    return Rule(
        selection,
        {
            ANONYMOUS: UNAUTHENTICATED,
            HOLDER: ALLOWED,
            sub_account(set()): ALLOWED,
            staff_member(StaffRole.READ_ONLY): ALLOWED,
            custom_role(set(StaffPermission) - {VIEW}): FORBIDDEN,
            custom_role({VIEW}): ALLOWED,
            api_key({VIEW}): ALLOWED,
        },
    )


RULES: dict[str, Rule] = {
    # Query
    "viewer": public("viewer { kind }").but(ANONYMOUS, NULL),
    "clients": staff(VIEW, "clients(first: 1) { totalCount edges { node { id notes } } }"),
    "client": staff(VIEW, "client(id: $client) { id email notes }"),
    "contact": staff(VIEW, "contact(id: $contact) { id email }"),
    "emailTemplatePreviews": staff(StaffPermission.VIEW_EMAILS, "emailTemplatePreviews { key }"),
    "emailTemplates": staff(StaffPermission.VIEW_EMAILS, "emailTemplates { name customised }"),
    "previewEmailTemplate": staff(
        StaffPermission.VIEW_EMAILS,
        'previewEmailTemplate(name: "client_signup", language: "de") { subject }',
    ),
    "generalSettings": logged_in("generalSettings { clientDisplayFormat }"),
    "me": client_area(None, "me { id status }"),
    "node": logged_in("node(id: $client) { id }"),
    "nodes": logged_in("nodes(ids: [$client]) { id }"),
    "failedEmails": staff(StaffPermission.VIEW_EMAILS, "failedEmails { totalCount }"),
    "invoice": staff(VIEW, "invoice(id: $invoice) { id total }"),
    "transactions": staff(VIEW, "transactions(clientId: $client) { edges { cursor } }"),
    "taxRules": staff(VIEW, "taxRules { id rate }"),
    "invoices": staff(VIEW, "invoices(clientId: $client) { totalCount edges { node { id } } }"),
    "services": staff(VIEW, "services(status: [PENDING]) { totalCount edges { node { id } } }"),
    "tickets": staff(VIEW, "tickets(first: 1) { totalCount edges { node { subject } } }"),
    "auditLog": staff(
        StaffPermission.VIEW_AUDIT_LOG, "auditLog(clientId: $client) { edges { node { id } } }"
    ),
    "automationSettings": staff(SETTINGS, "automationSettings { runAt lateFeeDays }"),
    "automationRuns": staff(SETTINGS, "automationRuns(first: 1) { totalCount }"),
    # Any staff member or key; each figure checks its own permission (tests/api/test_dashboard).
    "dashboard": Rule(
        "dashboard { __typename }",
        {
            ANONYMOUS: UNAUTHENTICATED,
            HOLDER: FORBIDDEN,
            sub_account(ContactPermission): FORBIDDEN,
            custom_role({ONE_PERMISSION}): ALLOWED,
            api_key({ONE_PERMISSION}): ALLOWED,
        },
    ),
    # Mutation
    "login": public('login(email: "nobody@example.com", password: "wrong") { token }'),
    "logout": public("logout"),
    "clearProductStatusFilter": staff(VIEW, f"clearProductStatusFilter {{ ok {ERRORS} }}"),
    "addClient": staff(EDIT, f"addClient(input: {{{NEW_CLIENT}}}) {{ client {{ id }} {ERRORS} }}"),
    "updateClient": staff(
        EDIT, f'updateClient(id: $client, input: {{notes: "x"}}) {{ client {{ id }} {ERRORS} }}'
    ),
    "setClientStatus": staff(
        EDIT, f"setClientStatus(id: $client, status: INACTIVE) {{ client {{ id }} {ERRORS} }}"
    ),
    "setDefaultBillingContact": staff(
        EDIT,
        f"setDefaultBillingContact(clientId: $client, contactId: $contact) {{ {ERRORS} }}",
    ),
    "placeOrder": staff(
        BILLING,
        'placeOrder(clientId: $client, input: {items: [{kind: SERVICE, name: "VPS", '
        f'amount: "5.00"}}]}}) {{ order {{ id }} {ERRORS} }}',
    ),
    "acceptOrder": staff(BILLING, f"acceptOrder(id: $order) {{ order {{ id }} {ERRORS} }}"),
    "setServiceStatus": staff(
        EDIT, f"setServiceStatus(id: $service, status: ACTIVE) {{ {ERRORS} }}"
    ),
    "setDomainStatus": staff(EDIT, f"setDomainStatus(id: $domain, status: ACTIVE) {{ {ERRORS} }}"),
    "createInvoice": staff(
        BILLING,
        'createInvoice(clientId: $client, input: {items: [{description: "Setup", '
        f'amount: "9.00"}}]}}) {{ invoice {{ id }} {ERRORS} }}',
    ),
    "recordPayment": staff(
        BILLING,
        f'recordPayment(invoiceId: $invoice, amount: "1.00", gateway: "banktransfer") '
        f"{{ invoice {{ id }} {ERRORS} }}",
    ),
    # SPEC 13.2, 13.3: the client pays its own invoice; staff move money in and out.
    "payInvoice": client_area(
        ContactPermission.INVOICES,
        f"payInvoice(invoiceId: $invoice, source: CREDIT) {{ invoice {{ id }} {ERRORS} }}",
    ),
    "applyCredit": staff(
        BILLING, f'applyCredit(invoiceId: $invoice, amount: "1.00") {{ invoice {{ id }} {ERRORS} }}'
    ),
    "refundTransaction": staff(
        BILLING,
        f'refundTransaction(id: $transaction, amount: "1.00") {{ refund {{ id }} {ERRORS} }}',
    ),
    "cancelInvoice": staff(BILLING, f"cancelInvoice(id: $invoice) {{ invoice {{ id }} {ERRORS} }}"),
    "setClientPaymentMethod": staff(
        BILLING,
        f'setClientPaymentMethod(id: $client, paymentMethod: "mailin") {{ {ERRORS} }}',
    ),
    "setTaxRule": staff(
        StaffPermission.MANAGE_SETTINGS,
        f'setTaxRule(input: {{country: "DE", name: "MwSt", rate: "19.00"}}) {{ {ERRORS} }}',
    ),
    "deleteTaxRule": staff(
        StaffPermission.MANAGE_SETTINGS, f"deleteTaxRule(id: $taxRule) {{ ok {ERRORS} }}"
    ),
    "paymentGateways": staff(VIEW, "paymentGateways { name kind enabled canRefund }"),
    "updatePaymentGateway": staff(
        SETTINGS,
        f'updatePaymentGateway(name: "mailin", input: {{displayName: "Cheque"}}) {{ {ERRORS} }}',
    ),
    "addCredit": staff(
        BILLING,
        f'addCredit(clientId: $client, amount: "1.00", description: "x") {{ {ERRORS} }}',
    ),
    "removeCredit": staff(
        BILLING, f'removeCredit(clientId: $client, amount: "1.00", reason: "x") {{ {ERRORS} }}'
    ),
    "deleteCreditEntry": staff(BILLING, f"deleteCreditEntry(id: $creditEntry) {{ {ERRORS} }}"),
    "saveCard": staff(
        CARDS,
        'saveCard(clientId: $client, input: {number: "5555555555554444", expiry: "12/30"}) '
        f"{{ client {{ id }} {ERRORS} }}",
    ),
    "clearCard": staff(CARDS, f"clearCard(clientId: $client) {{ client {{ id }} {ERRORS} }}"),
    # Never an API key's, whatever its role holds (SPEC 11.3).
    "revealCardNumber": staff(
        CARDS,
        'revealCardNumber(clientId: $client, encryptionSecret: "test-card-secret") '
        f"{{ number {ERRORS} }}",
    )
    .but(api_key({CARDS}), FORBIDDEN)
    .but(ALL_POWERFUL_KEY, FORBIDDEN),
    "uploadClientFile": staff(
        EDIT,
        'uploadClientFile(clientId: $client, file: $upload, title: "T", adminOnly: false) '
        f"{{ file {{ id }} {ERRORS} }}",
    ),
    "updateClientFile": staff(
        EDIT, f'updateClientFile(id: $file, title: "New") {{ file {{ id }} {ERRORS} }}'
    ),
    "deleteClientFile": staff(EDIT, f"deleteClientFile(id: $file) {{ ok {ERRORS} }}"),
    "retryEmail": staff(EDIT, f"retryEmail(id: $failedEmail) {{ ok {ERRORS} }}"),
    "sendClientEmail": staff(
        EDIT, f'sendClientEmail(clientId: $client, template: "client_signup") {{ ok {ERRORS} }}'
    ),
    "addContact": staff(
        EDIT, f"addContact(clientId: $client, input: {{{NEW_CONTACT}}}) {{ {ERRORS} }}"
    ),
    "updateContact": staff(
        EDIT, f'updateContact(id: $contact, input: {{firstName: "X"}}) {{ {ERRORS} }}'
    ),
    "deleteContact": staff(EDIT, f"deleteContact(id: $contact) {{ ok {ERRORS} }}"),
    # Without a worker beside this test the run does not finish: its errors say so.
    "runAutomation": staff(SETTINGS, "runAutomation { run { asOf } }"),
    "updateAutomationSettings": staff(
        SETTINGS, f"updateAutomationSettings(input: {{lateFeeDays: 9}}) {{ {ERRORS} }}"
    ),
    "updateEmailTemplate": staff(
        SETTINGS,
        'updateEmailTemplate(input: {name: "client_signup", language: "en", subject: "Hi", '
        f'text: "Hi"}}) {{ {ERRORS} }}',
    ),
    "revertEmailTemplate": staff(
        SETTINGS,
        f'revertEmailTemplate(name: "client_signup", language: "en") {{ {ERRORS} }}',
    ),
    "updateGeneralSettings": staff(
        StaffPermission.MANAGE_SETTINGS,
        f"updateGeneralSettings(input: {{clientDisplayFormat: COMPANY_IF_SET}}) {{ {ERRORS} }}",
    ),
    "updateMyProfile": client_area(
        PROFILE, f'updateMyProfile(input: {{companyName: "X"}}) {{ client {{ id }} {ERRORS} }}'
    ),
    "addMyContact": client_area(CONTACTS, f"addMyContact(input: {{{NEW_CONTACT}}}) {{ {ERRORS} }}"),
    "updateMyContact": client_area(
        CONTACTS, f'updateMyContact(id: $contact, input: {{firstName: "X"}}) {{ {ERRORS} }}'
    ),
    "deleteMyContact": client_area(CONTACTS, f"deleteMyContact(id: $contact) {{ ok {ERRORS} }}"),
    # SPEC 14.4: staff write and send quotes, the client area accepts them.
    "saveQuote": staff(
        BILLING,
        'saveQuote(clientId: $client, input: {lines: [{description: "Design", amount: "5.00"}], '
        f'validUntil: "2099-01-01"}}) {{ quote {{ id }} {ERRORS} }}',
    ),
    "sendQuote": staff(BILLING, f"sendQuote(id: $quote) {{ quote {{ id }} {ERRORS} }}"),
    "acceptQuote": client_area(
        ContactPermission.QUOTES, f"acceptQuote(id: $quote) {{ quote {{ id }} {ERRORS} }}"
    ),
    # SPEC 14.3: the client area's affiliate account, paid out by staff.
    "activateMyAffiliate": client_area(
        ContactPermission.AFFILIATES,
        f"activateMyAffiliate {{ affiliate {{ referralCode }} {ERRORS} }}",
    ),
    "payAffiliateBalance": staff(
        BILLING,
        f"payAffiliateBalance(clientId: $client) {{ affiliate {{ referralCode }} {ERRORS} }}",
    ),
    "openTicket": client_area(
        TICKETS, f'openTicket(subject: "Help", message: "Hi") {{ ticket {{ id }} {ERRORS} }}'
    ),
    "replyToTicket": staff(
        EDIT, f'replyToTicket(ticketId: $ticket, message: "Hello") {{ ticket {{ id }} {ERRORS} }}'
    ),
    "setTicketStatus": staff(
        EDIT, f"setTicketStatus(id: $ticket, status: ON_HOLD) {{ ticket {{ id }} {ERRORS} }}"
    ),
    "replyToMyTicket": client_area(
        TICKETS,
        f'replyToMyTicket(ticketId: $ticket, message: "Hi") {{ ticket {{ id }} {ERRORS} }}',
    ),
    "closeMyTicket": client_area(
        TICKETS, f"closeMyTicket(id: $ticket) {{ ticket {{ id }} {ERRORS} }}"
    ),
    # Every client-area login reads the departments, to choose one when opening a ticket.
    "ticketDepartments": catalogue("ticketDepartments { id name email }"),
    "saveTicketDepartment": staff(
        SETTINGS,
        f'saveTicketDepartment(input: {{name: "Sales", email: "sales@example.com"}}) '
        f"{{ department {{ id }} {ERRORS} }}",
    ),
    "exportClientData": staff(
        StaffPermission.VIEW_AUDIT_LOG, "exportClientData(id: $client) { generatedAt }"
    ),
    "mergeClients": staff(
        StaffPermission.DELETE_CLIENTS,
        "mergeClients(firstId: $client, secondId: $otherClient, keep: FIRST) "
        f"{{ client {{ id }} {ERRORS} }}",
    ),
    "deleteClient": staff(
        StaffPermission.DELETE_CLIENTS, f"deleteClient(id: $client) {{ ok {ERRORS} }}"
    ),
    # The account holder only: no sub-account, whatever it was granted.
    "exportMyData": client_area(None, "exportMyData { generatedAt }")
    .but(sub_account(set(ContactPermission)), FORBIDDEN)
    .but(sub_account(set()), FORBIDDEN),
    # The catalogue and the client area's use of it (SPEC 14.1, 14.2).
    "products": catalogue("products(first: 5) { totalCount edges { node { id name } } }"),
    "productGroups": catalogue("productGroups { id name }"),
    "cancellationRequests": staff(
        VIEW, "cancellationRequests(first: 5) { totalCount edges { node { id } } }"
    ),
    "saveProduct": staff(
        SETTINGS,
        'saveProduct(input: {name: "VPS", kind: SERVICE, pricing: [{currency: "USD", '
        f'cycle: MONTHLY, amount: "5.00"}}]}}) {{ product {{ id }} {ERRORS} }}',
    ),
    "saveProductGroup": staff(
        SETTINGS, f'saveProductGroup(input: {{name: "VPS"}}) {{ group {{ id }} {ERRORS} }}'
    ),
    "placeMyOrder": client_area(
        ContactPermission.ORDERS,
        "placeMyOrder(input: {items: [{productId: $product}]}) "
        f"{{ order {{ id invoice {{ total }} }} {ERRORS} }}",
    ),
    "requestCancellation": client_area(
        ContactPermission.MANAGE_PRODUCTS,
        'requestCancellation(serviceId: $service, type: IMMEDIATE, reason: "Too dear") '
        f"{{ request {{ id }} {ERRORS} }}",
    ),
    "setDomainAutoRenew": client_area(
        ContactPermission.MANAGE_DOMAINS,
        f"setDomainAutoRenew(domainId: $domain, autoRenew: false) {{ domain {{ id }} {ERRORS} }}",
    ),
    "requestPasswordReset": public('requestPasswordReset(email: "nobody@example.com") { ok }'),
    # Allowed, though refused as data (ok: false): no such token, no setup to confirm.
    "confirmPasswordReset": public('confirmPasswordReset(token: "no-token") { ok }'),
    "confirmEmailChange": public('confirmEmailChange(token: "no-token") { ok }'),
    "acceptInvitation": public(
        'acceptInvitation(token: "no-token", password: "a-long-password") { ok }'
    ),
    "resetAndSendPassword": staff(EDIT, f"resetAndSendPassword(clientId: $client) {{ {ERRORS} }}"),
    "setPassword": staff(
        EDIT, f'setPassword(clientId: $client, password: "a-long-password") {{ ok {ERRORS} }}'
    ),
    # Every login kind, staff included (SPEC 11.2).
    "beginTwoFactorSetup": own_login(f"beginTwoFactorSetup {{ secret {ERRORS} }}"),
    # Allowed, though refused as data (ok: false): no setup to confirm, no two-factor on.
    "confirmTwoFactorSetup": own_login('confirmTwoFactorSetup(code: "000000") { ok }'),
    "disableMyTwoFactor": own_login('disableMyTwoFactor(code: "000000") { ok }'),
    "regenerateRecoveryCodes": own_login(
        'regenerateRecoveryCodes(code: "000000") { recoveryCodes }'
    ),
    "disableTwoFactor": staff(
        StaffPermission.MANAGE_LOGIN_SECURITY,
        f"disableTwoFactor(clientId: $client) {{ ok {ERRORS} }}",
    ),
    "disableClientTwoFactor": staff(
        StaffPermission.MANAGE_LOGIN_SECURITY,
        f"disableClientTwoFactor(id: $client) {{ client {{ id }} {ERRORS} }}",
    ),
    # Allowed, though refused as data (ok: false): the current password is wrong.
    "changeMyPassword": own_login(
        'changeMyPassword(currentPassword: "wrong", newPassword: "a-long-password") { ok }'
    ),
    # Staff administration (SPEC 11.1).
    "staffMembers": staff(MANAGE_STAFF, "staffMembers(first: 1) { edges { node { email } } }"),
    "staffMember": staff(MANAGE_STAFF, "staffMember(id: $staff) { email role { name } }"),
    "staffRoles": staff(MANAGE_STAFF, "staffRoles { name permissions }"),
    "inviteStaff": staff(
        MANAGE_STAFF,
        'inviteStaff(input: {email: "new@staff.example.com", firstName: "New", '
        f'lastName: "Member", roleId: $role}}) {{ staff {{ id }} {ERRORS} }}',
    ),
    "updateStaff": staff(
        MANAGE_STAFF,
        f'updateStaff(id: $staff, input: {{lastName: "Renamed"}}) {{ staff {{ id }} {ERRORS} }}',
    ),
    "disableStaff": staff(MANAGE_STAFF, f"disableStaff(id: $staff) {{ staff {{ id }} {ERRORS} }}"),
    "enableStaff": staff(MANAGE_STAFF, f"enableStaff(id: $staff) {{ staff {{ id }} {ERRORS} }}"),
    "resetStaffPassword": staff(MANAGE_STAFF, f"resetStaffPassword(id: $staff) {{ ok {ERRORS} }}"),
    "saveStaffRole": staff(
        MANAGE_STAFF,
        'saveStaffRole(input: {name: "Auditors", permissions: [VIEW_AUDIT_LOG]}) '
        f"{{ role {{ id }} {ERRORS} }}",
    ),
    "deleteStaffRole": staff(MANAGE_STAFF, f"deleteStaffRole(id: $unusedRole) {{ ok {ERRORS} }}"),
    "apiKeys": staff(MANAGE_STAFF, "apiKeys { id prefix }"),
    "createApiKey": staff(
        MANAGE_STAFF,
        f'createApiKey(input: {{name: "Dashboard", roleId: $role}}) {{ secret {ERRORS} }}',
    ),
    "revokeApiKey": staff(MANAGE_STAFF, f"revokeApiKey(id: $apiKey) {{ ok {ERRORS} }}"),
}


# The variables naming the world's client's own objects (not the catalogue's, not staff's).
CLIENT_OBJECTS = (
    "$client",
    "$contact",
    "$order",
    "$service",
    "$domain",
    "$invoice",
    "$transaction",
    "$creditEntry",
    "$ticket",
    "$file",
    "$quote",
)


def with_another_client(rule: Rule) -> Rule:
    """The rule with another client's holder where the holder may call it on the client's
    objects: a mutation's payload says NOT_FOUND, a query answers null."""
    if rule.outcomes.get(HOLDER) != ALLOWED or not any(v in rule.selection for v in CLIENT_OBJECTS):
        return rule
    return rule.but(ANOTHER_CLIENT, NOT_FOUND if ERRORS in rule.selection else NULL)


RULES = {name: with_another_client(rule) for name, rule in RULES.items()}


def test_every_root_field_has_an_access_rule() -> None:
    fields = root_fields()
    missing = sorted(set(fields) - set(RULES))
    assert not missing, (
        f"Root fields without an access rule: {', '.join(missing)}. Add one line per field to "
        "RULES in tests/api/test_authz_matrix.py saying who may call it."
    )
    stale = sorted(set(RULES) - set(fields))
    assert not stale, f"RULES names fields the schema does not have: {', '.join(stale)}"


CASES = [(name, viewer) for name, rule in RULES.items() for viewer in rule.outcomes]


@dataclass(frozen=True)
class World:
    """A client (its holder's login) with a plain contact and a failed email, as the
    operations' targets; `variables` are their ids as the selections' variables take them."""

    client_id: int
    contact_id: int
    holder_login: int
    variables: dict[str, str]
    # The holder of the other client, which owns nothing the selections name.
    other_login: int


@pytest.fixture
async def world(conn: asyncpg.Connection) -> World:
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Holder", "email": "holder@example.com"},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    await conn.execute("UPDATE clients SET notes = 'staff eyes only' WHERE id = $1", client.id)
    contact_id = await conn.fetchval(
        """INSERT INTO contacts (client_id, first_name, last_name, email)
           VALUES ($1, 'Plain', 'Contact', 'plain@example.com') RETURNING id""",
        client.id,
    )
    failed_email_id = await conn.fetchval(
        """INSERT INTO emails (client_id, template, category, to_address, attempts, failed_at)
           VALUES ($1, 'client_signup', 'ACCOUNT', 'holder@example.com', 8, now())
           RETURNING id""",
        client.id,
    )
    order = await orders.place_order(
        conn,
        client.id,
        items=[
            {"kind": ItemKind.SERVICE, "name": "Hosting", "amount": "10.00"},
            {"kind": ItemKind.DOMAIN, "name": "example.com", "amount": "12.00"},
        ],
        payment_method="banktransfer",
        staff_id=None,
    )
    service, domain = order.items
    # A paid invoice's payment to refund, made before the credit that payInvoice and
    # applyCredit spend (a new invoice would take it).
    paid = await invoices.create_invoice(
        conn,
        client.id,
        items=[{"description": "Setup", "amount": "3.00"}],
        due_date=None,
        payment_method="banktransfer",
        staff_id=None,
    )
    payment = await pay_by_transfer(conn, paid.id, "3.00")
    credit = await credit_services.add_credit(
        conn, client.id, amount="5.00", description="Goodwill", staff_id=None, login_id=None
    )
    assert credit.entry is not None and order.invoice_id is not None
    await cards.save_card(
        conn,
        CardKeyring.parse(CARD_KEY),
        client.id,
        number="4111111111111111",
        expiry="12/30",
        staff_id=None,
    )
    other = await client_services.add_client(
        conn,
        {"first_name": "Ann", "last_name": "Other", "email": "other@example.com"},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    rule = await tax.set_tax_rule(conn, country="GB", state=None, name="VAT", rate="20.00")
    ticket = await tickets.open_ticket(
        conn,
        await tickets.writer_of_viewer(conn, client.id, None),
        "Help",
        "It is down.",
        client_area_url=CLIENT_AREA_URL,
    )
    # A file row alone: its bytes are not needed to rename it or delete it.
    file_id = await conn.fetchval(
        """INSERT INTO client_files (client_id, title, filename, stored_name, content_type, size)
           VALUES ($1, 'Terms', 'terms.pdf', $2, 'application/pdf', 5) RETURNING id""",
        client.id,
        "f" * 32,
    )
    # A member to administer, and a custom role nothing holds.
    support_role = await conn.fetchval("SELECT id FROM staff_roles WHERE name = 'SUPPORT'")
    staff_member_id = await conn.fetchval(
        """WITH l AS (INSERT INTO logins (email) VALUES ('target@staff.example.com') RETURNING id)
           INSERT INTO staff (login_id, first_name, last_name, role)
           SELECT id, 'Tara', 'Target', 'SUPPORT' FROM l RETURNING id"""
    )
    api_key_id = await conn.fetchval(
        """INSERT INTO api_keys (name, prefix, secret_hash, staff_id, role_id)
           VALUES ('Target', 'target', '\\x00', $1, $2) RETURNING id""",
        staff_member_id,
        support_role,
    )
    product = await products.save_product(
        conn,
        None,
        {
            "kind": ItemKind.SERVICE,
            "name": "Hosting",
            "pricing": [{"currency": "USD", "cycle": "MONTHLY", "amount": "4.00"}],
        },
    )
    unused_role = await conn.fetchval(
        "INSERT INTO staff_roles (name, permissions) VALUES ('Unused', '{VIEW_CLIENTS}') "
        "RETURNING id"
    )
    # A sent quote to send again or accept, and an affiliate account with a balance to pay.
    quote = await quotes.save_quote(
        conn,
        client.id,
        quote_id=None,
        lines=[{"description": "Design", "amount": "40.00"}],
        valid_until=date(2099, 1, 1),
        staff_id=None,
    )
    await quotes.send_quote(
        conn, quote.id, staff_id=None, client_area_url=CLIENT_AREA_URL, page_id="Q"
    )
    affiliate = await affiliates.activate_affiliate(conn, client.id)
    await conn.execute(
        """INSERT INTO affiliate_commissions (affiliate_id, invoice_number, amount, currency)
           VALUES ($1, 1, 4.00, 'USD')""",
        affiliate.id,
    )
    variables = {
        "client": gid("Client", client.id),
        "otherClient": gid("Client", other.id),
        "contact": gid("Contact", contact_id),
        "failedEmail": gid("Email", failed_email_id),
        "order": gid("Order", order.id),
        "service": gid("Service", service.id),
        "domain": gid("Domain", domain.id),
        "invoice": gid("Invoice", order.invoice_id),
        "transaction": gid("Transaction", payment.transaction.id),
        "creditEntry": gid("CreditEntry", credit.entry.id),
        "taxRule": gid("TaxRule", rule.id),
        "ticket": gid("Ticket", ticket.id),
        "file": gid("ClientFile", file_id),
        "upload": "",  # the file part of the multipart request (see `send`)
        "staff": gid("Staff", staff_member_id),
        "role": gid("StaffRole", support_role),
        "unusedRole": gid("StaffRole", unused_role),
        "apiKey": gid("ApiKey", api_key_id),
        "product": gid("Product", product.id),
        "quote": gid("Quote", quote.id),
    }
    return World(client.id, contact_id, client.owner_login_id, variables, other.owner_login_id)


async def session_of(
    conn: asyncpg.Connection, world: World, viewer: As, tag: str = ""
) -> str | None:
    """A session (or key) of `viewer`; `tag` tells its login, contact and role apart from
    other viewers' made in the same test."""
    if viewer.kind == "anonymous":
        return None
    if viewer.kind == "holder":
        login_id = world.holder_login
    elif viewer.kind == "another_client":
        login_id = world.other_login
    elif viewer.kind == "sub_account":
        login_id = await conn.fetchval(
            "INSERT INTO logins (email) VALUES ($1) RETURNING id", f"sub{tag}@example.com"
        )
        await conn.execute(
            """INSERT INTO contacts (client_id, login_id, first_name, last_name, email,
                                     permissions)
               VALUES ($1, $2, 'Sub', 'Account', $4, $3)""",
            world.client_id,
            login_id,
            sorted(viewer.granted),
            f"sub{tag}@example.com",
        )
    else:
        login_id = await conn.fetchval(
            "INSERT INTO logins (email) VALUES ($1) RETURNING id",
            f"staff{tag}@staff.example.com",
        )
        custom_role_id = None
        if viewer.custom is not None:
            custom_role_id = await conn.fetchval(
                "INSERT INTO staff_roles (name, permissions) VALUES ($1, $2) RETURNING id",
                f"Custom{tag}",
                sorted(viewer.custom),
            )
        await conn.execute(
            "INSERT INTO staff (login_id, first_name, last_name, role, custom_role_id) "
            "VALUES ($1, 'Sam', 'Staff', $2, $3)",
            login_id,
            viewer.role.value if viewer.role else None,
            custom_role_id,
        )
    if viewer.kind == "api_key":
        return await api_key_of(conn, login_id, custom_role_id)
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def api_key_of(conn: asyncpg.Connection, login_id: int, role_id: int | None) -> str:
    """A key of the member of `login_id` for the role, used a moment ago: lastUsedAt stays
    as it is within the minute, so that a refusal changes no state."""
    made = api_keys.new_secret()
    await conn.execute(
        """INSERT INTO api_keys (name, prefix, secret_hash, staff_id, role_id, last_used_at)
           SELECT 'Matrix', $1, $2, id, $3, now() FROM staff WHERE login_id = $4""",
        made.prefix,
        made.secret_hash,
        role_id,
        login_id,
    )
    return made.secret


def document(name: str, selection: str | None = None) -> str:
    """The operation of root field `name`: RULES' selection, or `selection`."""
    selection = RULES[name].selection if selection is None else selection
    used = [f"{var}: {kind}" for var, kind in VARIABLES.items() if var in selection]
    declared = f"({', '.join(used)})" if used else ""
    return f"{root_fields()[name].lower()}{declared} {{ {selection} }}"


async def state(conn: asyncpg.Connection) -> dict[str, list[asyncpg.Record]]:
    return {table: await conn.fetch(f"SELECT * FROM {table} ORDER BY 1") for table in STATE_TABLES}


async def send(
    api: httpx.AsyncClient, query: str, variables: dict[str, str], token: str | None
) -> dict[str, Any]:
    """The operation as JSON, or, when it takes `$upload`, as a GraphQL multipart request
    (with its CSRF header) whose file part is a small PDF."""
    if "upload" not in variables:
        return await gql(api, query, variables, token=token, allow_errors=True)
    operations = {"query": query, "variables": {**variables, "upload": None}}
    response = await api.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.upload"]})},
        files={"0": ("terms.pdf", b"%PDF-1.4", "application/pdf")},
        headers={
            "X-CSRF-Protection": "1",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(("name", "viewer"), CASES, ids=[f"{n}-{v}" for n, v in CASES])
async def test_10_1_2_4_each_root_field_refuses_or_allows_each_viewer(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World, name: str, viewer: As
) -> None:
    expected = RULES[name].outcomes[viewer]
    token = await session_of(conn, world, viewer)
    query = document(name)
    used = {k: v for k, v in world.variables.items() if f"${k}" in query}
    before = await state(conn)

    body = await send(api, query, used, token)

    result = (body.get("data") or {}).get(name)
    if viewer == ANOTHER_CLIENT:
        assert "holder@example.com" not in str(body) and "Plain" not in str(body), body
        assert await state(conn) == before
    if expected == NOT_FOUND:
        assert "errors" not in body, body
        assert [e["code"] for e in result["errors"]] == [NOT_FOUND], body
        assert not any(value for key, value in result.items() if key != "errors"), body
        return
    if expected in (UNAUTHENTICATED, FORBIDDEN):
        assert [e["extensions"]["code"] for e in body.get("errors", [])] == [expected], body
        assert body["errors"][0]["path"] == [name]
        assert result is None
        assert "holder@example.com" not in str(body) and "staff eyes only" not in str(body)
        assert await state(conn) == before
        return
    assert "errors" not in body, body
    if expected == NULL:
        assert result is None or (isinstance(result, list) and not any(result)), body
        return
    if expected == EMPTY:
        assert result == [] or (isinstance(result, dict) and result.get("edges") == []), body
        return
    assert result is not None
    if isinstance(result, dict) and "errors" in result:
        assert result["errors"] == [], result


@dataclass(frozen=True)
class GuardedField:
    """An input field that needs a stronger staff permission than its mutation: `value` is
    what the test gives it, `changed` SQL that is true of the client ($1) once it took."""

    permission: StaffPermission
    value: str
    changed: str


# The mutations whose input has guarded fields: their permission, and their selection given
# a guarded field with an unguarded one (so that a refusal must change neither).
GUARDED_INPUTS: dict[str, tuple[StaffPermission, Callable[[str], str]]] = {
    "updateClient": (
        EDIT,
        lambda given: (
            f'updateClient(id: $client, input: {{notes: "changed", {given}}}) '
            f"{{ client {{ id }} {ERRORS} }}"
        ),
    ),
}
# What needs a stronger permission than its mutation, by "mutation.input.field". The billing
# part of a client (SPEC 1.5, 1.6; what a sub-account reads with INVOICES) is MANAGE_BILLING's,
# as setClientPaymentMethod is: how it is charged, taxed, invoiced and chased, and the currency
# its credit and invoices are in.
GUARDED_FIELDS: dict[str, GuardedField] = {
    "updateClient.input.defaultPaymentMethod": GuardedField(
        BILLING,
        '"mailin"',
        """SELECT c.default_payment_method = 'mailin' AND bool_and(i.payment_method = 'mailin')
             FROM clients c JOIN invoices i ON i.client_id = c.id AND i.status = 'UNPAID'
            WHERE c.id = $1 GROUP BY c.id""",
    ),
    "updateClient.input.taxExempt": GuardedField(
        BILLING, "true", "SELECT tax_exempt FROM clients WHERE id = $1"
    ),
    "updateClient.input.lateFeesExempt": GuardedField(
        BILLING, "true", "SELECT late_fees_exempt FROM clients WHERE id = $1"
    ),
    "updateClient.input.ccProcessingDisabled": GuardedField(
        BILLING, "true", "SELECT cc_processing_disabled FROM clients WHERE id = $1"
    ),
    "updateClient.input.overdueNoticesDisabled": GuardedField(
        BILLING, "true", "SELECT overdue_notices_disabled FROM clients WHERE id = $1"
    ),
    "updateClient.input.separateInvoices": GuardedField(
        BILLING, "true", "SELECT separate_invoices FROM clients WHERE id = $1"
    ),
    # The world's client holds credit in USD, so only its own currency is taken (SPEC 1.6):
    # naming it still needs MANAGE_BILLING.
    "updateClient.input.currency": GuardedField(
        BILLING, '"USD"', "SELECT currency = 'USD' FROM clients WHERE id = $1"
    ),
}
FIELD_CASES = [(path, role) for path in GUARDED_FIELDS for role in StaffRole]


def test_a_guarded_input_field_must_be_a_field_of_its_input() -> None:
    # A misspelt name would guard nothing: the schema is not built with it.
    with pytest.raises(ValueError, match="UpdateClientInput has no field tax_exmpt"):
        input_fields_needing(BILLING, UpdateClientInput, "tax_exempt", "tax_exmpt")


@pytest.mark.parametrize(("path", "role"), FIELD_CASES, ids=[f"{p}-{r}" for p, r in FIELD_CASES])
async def test_10_1_input_fields_needing_a_stronger_permission_are_refused_without_it(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World, path: str, role: StaffRole
) -> None:
    mutation, _, field_name = path.split(".")
    guarded = GUARDED_FIELDS[path]
    needs, selection = GUARDED_INPUTS[mutation]
    token = await session_of(conn, world, staff_member(role))
    query = document(mutation, selection(f"{field_name}: {guarded.value}"))
    used = {k: v for k, v in world.variables.items() if f"${k}" in query}
    before = await state(conn)

    body = await send(api, query, used, token)

    held = ROLE_PERMISSIONS[role]
    if needs in held and guarded.permission in held:
        assert "errors" not in body, body
        assert body["data"][mutation]["errors"] == []
        assert await conn.fetchval(guarded.changed, world.client_id) is True
        return
    [error] = body.get("errors") or [{"extensions": {}, "message": f"allowed: {body}"}]
    assert error["extensions"].get("code") == FORBIDDEN and error["path"] == [mutation], error
    if needs in held:
        # Named, with the permission it needs, in the error and its extensions.
        assert f"input.{field_name}" in error["message"], error
        assert guarded.permission.value in error["message"], error
        assert error["extensions"]["fields"] == [f"input.{field_name}"], error
    assert (body.get("data") or {}).get(mutation) is None
    assert await state(conn) == before


@dataclass(frozen=True)
class Override:
    """A staff operation that, on a login with two-factor on (the client's holder's or a
    sub-account's), overrides it: allowed only with every permission in `needs`, and then
    audited as `audited`. `password`: it sets a password, which a login without two-factor
    lets the mutation's own permission do."""

    root: str
    selection: str
    login: str
    needs: frozenset[StaffPermission]
    audited: str
    password: bool = True


LOGIN_SECURITY = StaffPermission.MANAGE_LOGIN_SECURITY
NEW_PASSWORD = '"another-long-password"'
OVERRIDES: dict[str, Override] = {
    "disableClientTwoFactor": Override(
        "disableClientTwoFactor",
        f"disableClientTwoFactor(id: $client) {{ client {{ id }} {ERRORS} }}",
        "holder",
        frozenset({LOGIN_SECURITY}),
        "client.two_factor_disabled",
        password=False,
    ),
    "disableTwoFactor.clientId": Override(
        "disableTwoFactor",
        f"disableTwoFactor(clientId: $client) {{ ok {ERRORS} }}",
        "holder",
        frozenset({LOGIN_SECURITY}),
        "client.two_factor_disabled",
        password=False,
    ),
    "disableTwoFactor.contactId": Override(
        "disableTwoFactor",
        f"disableTwoFactor(contactId: $subAccount) {{ ok {ERRORS} }}",
        "sub_account",
        frozenset({LOGIN_SECURITY}),
        "contact.two_factor_disabled",
        password=False,
    ),
    "setPassword.clientId": Override(
        "setPassword",
        f"setPassword(clientId: $client, password: {NEW_PASSWORD}) {{ ok {ERRORS} }}",
        "holder",
        frozenset({EDIT, LOGIN_SECURITY}),
        "client.password_set",
    ),
    "setPassword.contactId": Override(
        "setPassword",
        f"setPassword(contactId: $subAccount, password: {NEW_PASSWORD}) {{ ok {ERRORS} }}",
        "sub_account",
        frozenset({EDIT, LOGIN_SECURITY}),
        "client.password_set",
    ),
    "updateClient.input.password": Override(
        "updateClient",
        f"updateClient(id: $client, input: {{password: {NEW_PASSWORD}}}) {{ {ERRORS} }}",
        "holder",
        frozenset({EDIT, LOGIN_SECURITY}),
        "client.updated",
    ),
    "updateContact.input.password": Override(
        "updateContact",
        f"updateContact(id: $subAccount, input: {{password: {NEW_PASSWORD}}}) {{ {ERRORS} }}",
        "sub_account",
        frozenset({EDIT, LOGIN_SECURITY}),
        "contact.updated",
    ),
}
OVERRIDE_CASES = [
    (name, role, two_factor)
    for name, override in OVERRIDES.items()
    for role in StaffRole
    for two_factor in ((True, False) if override.password else (True,))
]


@pytest.mark.parametrize(
    ("name", "role", "two_factor"),
    OVERRIDE_CASES,
    ids=[f"{n}-{r}-{'2fa' if t else 'no_2fa'}" for n, r, t in OVERRIDE_CASES],
)
async def test_1_7_5_3_overriding_a_logins_two_factor_needs_manage_login_security(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    world: World,
    name: str,
    role: StaffRole,
    two_factor: bool,
) -> None:
    override = OVERRIDES[name]
    sub_login = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('sub-2fa@example.com') RETURNING id"
    )
    sub_contact = await conn.fetchval(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email)
           VALUES ($1, $2, 'Sub', 'TwoFactor', 'sub-2fa@example.com') RETURNING id""",
        world.client_id,
        sub_login,
    )
    if two_factor:
        await turn_on_two_factor(conn, "holder@example.com")
        await turn_on_two_factor(conn, "sub-2fa@example.com")
    target = world.holder_login if override.login == "holder" else sub_login
    token = await session_of(conn, world, staff_member(role))
    query = document(override.root, override.selection)
    variables = {**world.variables, "subAccount": gid("Contact", sub_contact)}
    used = {k: v for k, v in variables.items() if f"${k}" in query}
    before = await state(conn)
    login_row = "SELECT password_hash, totp_enabled FROM logins WHERE id = $1"
    login_before = await conn.fetchrow(login_row, target)

    body = await send(api, query, used, token)

    held = ROLE_PERMISSIONS[role]
    needs = override.needs if two_factor else override.needs - {LOGIN_SECURITY}
    if needs <= held:
        assert "errors" not in body, body
        assert body["data"][override.root]["errors"] == []
        assert await conn.fetchrow(login_row, target) != login_before
        staff_id = await conn.fetchval("SELECT id FROM staff WHERE first_name = 'Sam'")
        assert await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = $1 AND staff_id = $2",
            override.audited,
            staff_id,
        )
        return
    [error] = body.get("errors") or [{"extensions": {}, "message": f"allowed: {body}"}]
    assert error["extensions"].get("code") == FORBIDDEN, error
    assert error["path"] == [override.root], error
    if needs - {LOGIN_SECURITY} <= held:  # refused for the two-factor alone: it says why
        assert LOGIN_SECURITY.value in error["message"], error
        named = ["input.password"] if name.endswith(".input.password") else None
        assert error["extensions"].get("fields") == named, error
    assert (body.get("data") or {}).get(override.root) is None
    assert await state(conn) == before
