"""Who is making a request: a staff member, a client's owner, or (later) a sub-account."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.auth.permissions import ContactPermission, StaffPermission


class ViewerKind(StrEnum):
    STAFF = "STAFF"
    CLIENT = "CLIENT"
    CONTACT = "CONTACT"


@dataclass(frozen=True)
class Viewer:
    kind: ViewerKind
    login_id: int
    session_id: int
    email: str
    staff_id: int | None = None
    # The staff member's role by name (a built-in one's is its StaffRole value), and what the
    # role may do, read with the session in one statement: permission checks cost no query.
    staff_role: str | None = None
    staff_permissions: frozenset[StaffPermission] = frozenset()
    client_id: int | None = None
    contact_id: int | None = None
    contact_permissions: frozenset[ContactPermission] = frozenset()

    @property
    def is_staff(self) -> bool:
        return self.kind is ViewerKind.STAFF

    def has_staff_permission(self, permission: StaffPermission) -> bool:
        return self.is_staff and permission in self.staff_permissions

    def has_client_permission(self, permission: ContactPermission) -> bool:
        """In the client area: the account holder may do everything, a sub-account what it
        was granted (SPEC 2.4)."""
        if self.kind is ViewerKind.CLIENT:
            return True
        return self.kind is ViewerKind.CONTACT and permission in self.contact_permissions

    @property
    def client_permissions(self) -> frozenset[ContactPermission]:
        if self.kind is ViewerKind.CLIENT:
            return frozenset(ContactPermission)
        return self.contact_permissions
