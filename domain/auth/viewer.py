"""Who is making a request: a staff member, an API key acting for one, a client's owner, or a
sub-account."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.auth.permissions import ContactPermission, StaffPermission


class ViewerKind(StrEnum):
    STAFF = "STAFF"
    CLIENT = "CLIENT"
    CONTACT = "CONTACT"
    # An integration's key (SPEC 11.3): on the staff side, with its role's permissions less
    # those no key holds, on behalf of the member who made it; no login or session of its own.
    API_KEY = "API_KEY"


@dataclass(frozen=True)
class Viewer:
    kind: ViewerKind
    # An API key's are those of the member it acts for (whose login it never changes: the
    # fields about one's own login refuse keys) and None: a key has no session.
    login_id: int
    session_id: int | None
    email: str
    staff_id: int | None = None
    # The staff member's role by name (a built-in one's is its StaffRole value), and what the
    # role may do, read with the session in one statement: permission checks cost no query.
    staff_role: str | None = None
    staff_permissions: frozenset[StaffPermission] = frozenset()
    client_id: int | None = None
    contact_id: int | None = None
    contact_permissions: frozenset[ContactPermission] = frozenset()
    api_key_id: int | None = None
    # Whether this session was opened with a second factor (or confirmed one), SPEC 11.2.
    two_factor_passed: bool = False

    @property
    def is_staff(self) -> bool:
        """On the staff side: a staff member, or an API key acting for one."""
        return self.kind in (ViewerKind.STAFF, ViewerKind.API_KEY)

    @property
    def is_api_key(self) -> bool:
        return self.kind is ViewerKind.API_KEY

    @property
    def staff_without_second_factor(self) -> bool:
        """A staff session that passed no second factor: while the general setting
        requireStaffTwoFactor is on, it may only set two-factor up (SPEC 11.2)."""
        return self.kind is ViewerKind.STAFF and not self.two_factor_passed

    def has_staff_permission(self, permission: StaffPermission) -> bool:
        return self.is_staff and permission in self.staff_permissions

    def has_client_permission(self, permission: ContactPermission) -> bool:
        """In the client area: the account holder may do everything, a sub-account what it
        was granted (SPEC 2.4)."""
        if self.kind is ViewerKind.CLIENT:
            return True
        return self.kind is ViewerKind.CONTACT and permission in self.contact_permissions

    def may_read_client(
        self, client_id: int, *, staff: StaffPermission, client_area: ContactPermission
    ) -> bool:
        """Whether this viewer reads something of client `client_id`: staff with `staff`,
        else that client's client area with `client_area`."""
        if self.is_staff:
            return self.has_staff_permission(staff)
        return self.client_id == client_id and self.has_client_permission(client_area)

    @property
    def client_permissions(self) -> frozenset[ContactPermission]:
        if self.kind is ViewerKind.CLIENT:
            return frozenset(ContactPermission)
        return self.contact_permissions
