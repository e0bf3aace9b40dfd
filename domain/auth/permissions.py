"""Staff roles and what each may do (SPEC 10.1, 11.1)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class StaffRole(StrEnum):
    ADMIN = "ADMIN"
    BILLING = "BILLING"
    SUPPORT = "SUPPORT"
    READ_ONLY = "READ_ONLY"


class StaffPermission(StrEnum):
    VIEW_CLIENTS = "VIEW_CLIENTS"
    EDIT_CLIENTS = "EDIT_CLIENTS"
    # Money: credit, and later invoices and payments. Support staff do not hand it out.
    MANAGE_BILLING = "MANAGE_BILLING"
    VIEW_EMAILS = "VIEW_EMAILS"
    VIEW_AUDIT_LOG = "VIEW_AUDIT_LOG"
    MANAGE_SETTINGS = "MANAGE_SETTINGS"
    MANAGE_STAFF = "MANAGE_STAFF"
    # Save, clear and reveal stored cards (SPEC 4).
    MANAGE_CARDS = "MANAGE_CARDS"
    # Merge and delete clients (SPEC 7): both remove a client and its login for good, so
    # only administrators (who hold every permission) do it.
    DELETE_CLIENTS = "DELETE_CLIENTS"
    # Override a login's two-factor (SPEC 1.7, 11.2): turn it off, and set the password of a
    # login that has it on. With both, anyone could take over that login, so it is not part
    # of EDIT_CLIENTS: only administrators hold it among the built-in roles.
    MANAGE_LOGIN_SECURITY = "MANAGE_LOGIN_SECURITY"


ROLE_PERMISSIONS: dict[StaffRole, frozenset[StaffPermission]] = {
    StaffRole.ADMIN: frozenset(StaffPermission),
    StaffRole.BILLING: frozenset(
        {
            StaffPermission.VIEW_CLIENTS,
            StaffPermission.EDIT_CLIENTS,
            StaffPermission.MANAGE_BILLING,
            StaffPermission.VIEW_EMAILS,
            StaffPermission.VIEW_AUDIT_LOG,
            StaffPermission.MANAGE_CARDS,
        }
    ),
    StaffRole.SUPPORT: frozenset(
        {StaffPermission.VIEW_CLIENTS, StaffPermission.EDIT_CLIENTS, StaffPermission.VIEW_EMAILS}
    ),
    StaffRole.READ_ONLY: frozenset({StaffPermission.VIEW_CLIENTS}),
}


def role_permissions(
    built_in: str | None, custom: Iterable[str] | None
) -> frozenset[StaffPermission]:
    """What a role may do, from its row: a built-in role by its name (its permissions live
    here, in ROLE_PERMISSIONS), a custom role by the permissions stored with it. A stored
    name this release no longer knows grants nothing rather than failing every request."""
    if built_in is not None:
        return ROLE_PERMISSIONS[StaffRole(built_in)]
    known = set(StaffPermission)
    return frozenset(StaffPermission(p) for p in custom or () if p in known)


class ContactPermission(StrEnum):
    """What a client's main account holder lets a sub-account do in the client area (SPEC 2.4).

    The account holder always has every one of them.
    """

    PROFILE = "PROFILE"
    CONTACTS = "CONTACTS"
    PRODUCTS = "PRODUCTS"
    MANAGE_PRODUCTS = "MANAGE_PRODUCTS"
    DOMAINS = "DOMAINS"
    MANAGE_DOMAINS = "MANAGE_DOMAINS"
    INVOICES = "INVOICES"
    QUOTES = "QUOTES"
    TICKETS = "TICKETS"
    AFFILIATES = "AFFILIATES"
    EMAILS = "EMAILS"
    ORDERS = "ORDERS"
