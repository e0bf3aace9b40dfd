"""Permission classes declared on root fields; each raises UNAUTHENTICATED or FORBIDDEN.

They are checked once at the root field, so nested fields of the result need no check of
their own (and hot lists stay free of per-field extensions).
"""

from __future__ import annotations

from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer, ViewerKind
from resolvers.context import Context
from schema.common import Forbidden, Unauthenticated


async def _logged_in_viewer(info: Info[Context, Any]) -> Viewer:
    viewer = await info.context.get_viewer()
    if viewer is None:
        raise Unauthenticated()
    return viewer


class IsStaff(BasePermission):
    """A staff member holding `permission`."""

    def __init__(self, permission: StaffPermission) -> None:
        self.permission = permission

    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        viewer = await _logged_in_viewer(info)
        if not viewer.has_staff_permission(self.permission):
            raise Forbidden(f"This needs the staff permission {self.permission.value}.")
        return True


class IsClientArea(BasePermission):
    """A client-area login: the account holder, or a sub-account granted `permission`."""

    def __init__(self, permission: ContactPermission | None = None) -> None:
        self.permission = permission

    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        viewer = await _logged_in_viewer(info)
        if viewer.kind not in (ViewerKind.CLIENT, ViewerKind.CONTACT):
            raise Forbidden("This is for client-area logins.")
        if self.permission is not None and not viewer.has_client_permission(self.permission):
            raise Forbidden(f"This needs the client-area permission {self.permission.value}.")
        return True


class IsAccountHolder(BasePermission):
    """The client's main account holder; sub-accounts are refused whatever they were granted."""

    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        viewer = await _logged_in_viewer(info)
        if viewer.kind is not ViewerKind.CLIENT:
            raise Forbidden("This is for the account holder's own login.")
        return True


class IsLoggedIn(BasePermission):
    async def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        await _logged_in_viewer(info)
        return True


def staff(permission: StaffPermission) -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsStaff(permission)], use_directives=False)]


def client_area(permission: ContactPermission | None = None) -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsClientArea(permission)], use_directives=False)]


def account_holder() -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsAccountHolder()], use_directives=False)]


def logged_in() -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsLoggedIn()], use_directives=False)]
