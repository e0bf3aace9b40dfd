"""The `dashboard` root field (SPEC 12.3): staff only; each figure checks its own permission."""

from __future__ import annotations

import strawberry

from resolvers.permissions import staff_member
from schema.dashboard import Dashboard


def dashboard() -> Dashboard:
    return Dashboard()


@strawberry.type(description="Root fields of the dashboard: what can be read.")
class Queries:
    dashboard: Dashboard = strawberry.field(
        resolver=dashboard,
        extensions=staff_member(),
        description="Exact figures for a staff dashboard; each needs the permission that "
        "reads its objects (staff and API keys).",
    )
