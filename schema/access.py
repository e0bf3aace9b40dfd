"""Who may read which part of a client, checked where nested fields resolve.

Root fields already decide whose client a viewer reaches (staff: any, with VIEW_CLIENTS; the
client area: its own). A part of it then needs a staff permission of staff, and of a
sub-account the client-area permission its account holder granted (SPEC 2.4).
"""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from schema.common import Forbidden, Unauthenticated


def may_read(
    viewer: Viewer | None, *, staff: StaffPermission, client_area: ContactPermission
) -> bool:
    if viewer is None:
        return False
    if viewer.is_staff:
        return viewer.has_staff_permission(staff)
    return viewer.has_client_permission(client_area)


async def require(
    info: Info[Any, Any], *, staff: StaffPermission, client_area: ContactPermission
) -> None:
    viewer = await info.context.get_viewer()
    if viewer is None:
        raise Unauthenticated()
    if not may_read(viewer, staff=staff, client_area=client_area):
        raise Forbidden(
            f"This needs the permission {staff.value if viewer.is_staff else client_area.value}."
        )
