"""Permission classes declared on root fields; each raises UNAUTHENTICATED or FORBIDDEN.

They are checked once at the root field, so nested fields of the result need no check of
their own (and hot lists stay free of per-field extensions). A staff mutation may also name
fields of its `input` that need a stronger permission than the mutation itself
(`input_fields_needing`): given at all, even unchanged, they are refused without it, before
anything runs. What depends on the target rather than on the input (a login's two-factor)
is checked by the resolver, in its transaction (`require_two_factor_override`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import asyncpg
import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from domain.auth import two_factor
from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer, ViewerKind
from resolvers.context import Context
from schema.common import Forbidden, TwoFactorRequired, Unauthenticated

# The input fields a mutation guards beyond its own permission, by their Python name.
InputFieldPermissions = Mapping[str, StaffPermission]


async def logged_in_viewer(
    info: Info[Context, Any], *, setting_up_two_factor: bool = False
) -> Viewer:
    """The viewer, logged in. A staff session without the second factor the settings require
    may only set two-factor up (SPEC 11.2): every other field is refused it here, the one
    place each permission class passes (card reveal included)."""
    viewer = await info.context.get_viewer()
    if viewer is None:
        raise Unauthenticated()
    if not setting_up_two_factor and await info.context.second_factor_missing():
        raise TwoFactorRequired()
    return viewer


class IsStaff(BasePermission):
    """A staff member holding `permission`, and the permission of each of `input_fields`
    that the `input` argument gives."""

    def __init__(
        self,
        permission: StaffPermission,
        input_fields: InputFieldPermissions | None = None,
        *,
        api_keys: bool = True,
    ) -> None:
        self.permission = permission
        self.input_fields = input_fields or {}
        self.api_keys = api_keys

    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        viewer = await logged_in_viewer(info)
        if viewer.is_api_key and not self.api_keys:
            raise Forbidden("This is for staff members' own logins, not for API keys.")
        if not viewer.has_staff_permission(self.permission):
            raise Forbidden(f"This needs the staff permission {self.permission.value}.")
        lacking = {
            name: needed
            for name, needed in self.input_fields.items()
            if getattr(kwargs["input"], name) is not strawberry.UNSET
            and not viewer.has_staff_permission(needed)
        }
        if lacking:
            fields = [f"input.{to_camel_case(name)}" for name in lacking]
            needs = " and ".join(sorted({needed.value for needed in lacking.values()}))
            raise Forbidden(
                f"Changing {', '.join(fields)} needs the staff permission {needs}.", fields=fields
            )
        return True


def input_fields_needing(
    permission: StaffPermission, input_type: Any, *names: str
) -> dict[str, StaffPermission]:
    """Fields `names` of the strawberry input `input_type`, each needing `permission`, for
    `staff(..., input_fields=...)`. A name the input lacks would guard nothing: it fails here,
    when the schema is built."""
    unknown = set(names) - {f.name for f in dataclasses.fields(input_type)}
    if unknown:
        raise ValueError(f"{input_type.__name__} has no field {', '.join(sorted(unknown))}.")
    return dict.fromkeys(names, permission)


async def require_two_factor_override(
    viewer: Viewer | None, conn: asyncpg.Connection, login_id: int | None, *, in_input: bool
) -> None:
    """Setting the password of a login that has two-factor on needs MANAGE_LOGIN_SECURITY
    too: with EDIT_CLIENTS alone, staff would take the login over (as turning two-factor off
    would). `in_input`: the password is the `input.password` field of the operation.

    Not locked: two-factor turned on by the login meanwhile is as if it came just after."""
    assert viewer is not None  # the root field's permission class saw to that
    needed = StaffPermission.MANAGE_LOGIN_SECURITY
    if login_id is None or viewer.has_staff_permission(needed):
        return
    if await two_factor.two_factor_enabled(conn, login_id):
        fields = ["input.password"] if in_input else []
        named = f" ({fields[0]})" if fields else ""
        raise Forbidden(
            f"Setting the password{named} of a login with two-factor on needs the staff "
            f"permission {needed.value}.",
            fields=fields,
        )


class IsStaffMember(BasePermission):
    """Any staff member or API key, whatever its permissions: for fields whose parts each
    check their own (the dashboard)."""

    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        viewer = await logged_in_viewer(info)
        if not viewer.is_staff:
            raise Forbidden("This is for staff.")
        return True


class IsClientArea(BasePermission):
    """A client-area login: the account holder, or a sub-account granted `permission`."""

    def __init__(self, permission: ContactPermission | None = None) -> None:
        self.permission = permission

    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        viewer = await logged_in_viewer(info)
        if viewer.kind not in (ViewerKind.CLIENT, ViewerKind.CONTACT):
            raise Forbidden("This is for client-area logins.")
        if self.permission is not None and not viewer.has_client_permission(self.permission):
            raise Forbidden(f"This needs the client-area permission {self.permission.value}.")
        return True


class IsStaffOrClientArea(BasePermission):
    """Staff holding `permission`, or any client-area login: for what both read, each its
    own way (the catalogue: staff see hidden products too)."""

    def __init__(self, permission: StaffPermission) -> None:
        self.permission = permission

    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        viewer = await logged_in_viewer(info)
        if viewer.is_staff and not viewer.has_staff_permission(self.permission):
            raise Forbidden(f"This needs the staff permission {self.permission.value}.")
        return True


class IsAccountHolder(BasePermission):
    """The client's main account holder; sub-accounts are refused whatever they were granted."""

    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        viewer = await logged_in_viewer(info)
        if viewer.kind is not ViewerKind.CLIENT:
            raise Forbidden("This is for the account holder's own login.")
        return True


class IsLoggedIn(BasePermission):
    """Any login; with `setting_up_two_factor`, also a staff session still without the second
    factor the settings require (it may do nothing else). `own_login`: the field changes the
    viewer's own login (its password, its two-factor), which an API key has none of: the
    login it acts through is its member's."""

    def __init__(self, *, setting_up_two_factor: bool = False, own_login: bool = False) -> None:
        self.setting_up_two_factor = setting_up_two_factor
        self.own_login = own_login

    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        viewer = await logged_in_viewer(info, setting_up_two_factor=self.setting_up_two_factor)
        if self.own_login and viewer.is_api_key:
            raise Forbidden("An API key has no login of its own to change.")
        return True


def staff(
    permission: StaffPermission,
    *,
    input_fields: InputFieldPermissions | None = None,
    api_keys: bool = True,
) -> list[FieldExtension]:
    """Staff holding `permission`; API keys too (with it) unless `api_keys` is False."""
    return [
        PermissionExtension(
            permissions=[IsStaff(permission, input_fields, api_keys=api_keys)],
            use_directives=False,
        )
    ]


def staff_member() -> list[FieldExtension]:
    """Any staff member or API key; the parts of the result check their own permissions."""
    return [PermissionExtension(permissions=[IsStaffMember()], use_directives=False)]


def client_area(permission: ContactPermission | None = None) -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsClientArea(permission)], use_directives=False)]


def staff_or_client_area(permission: StaffPermission) -> list[FieldExtension]:
    return [
        PermissionExtension(permissions=[IsStaffOrClientArea(permission)], use_directives=False)
    ]


def account_holder() -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsAccountHolder()], use_directives=False)]


def logged_in() -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsLoggedIn()], use_directives=False)]


def own_login() -> list[FieldExtension]:
    """Any login changing itself; API keys are refused."""
    return [PermissionExtension(permissions=[IsLoggedIn(own_login=True)], use_directives=False)]


def setting_up_two_factor() -> list[FieldExtension]:
    """Any login setting up its own two-factor, including a staff session that may do nothing
    else; API keys are refused."""
    return [
        PermissionExtension(
            permissions=[IsLoggedIn(setting_up_two_factor=True, own_login=True)],
            use_directives=False,
        )
    ]
