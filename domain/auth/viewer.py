"""Who is making a request: a staff member, a client's owner, or (later) a sub-account."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.auth.permissions import ROLE_PERMISSIONS, StaffPermission, StaffRole


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
    staff_role: StaffRole | None = None
    client_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind is ViewerKind.STAFF

    def has_staff_permission(self, permission: StaffPermission) -> bool:
        return self.staff_role is not None and permission in ROLE_PERMISSIONS[self.staff_role]
