"""Staff administration types, inputs and payloads (SPEC 11.1)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.auth import permissions as auth_permissions
from domain.staff.members import StaffMember
from domain.staff.roles import Role
from schema.common import UserError
from schema.connections import Connection
from schema.ids import global_id
from schema.node import Node

StaffPermission = strawberry.enum(
    auth_permissions.StaffPermission,
    description="What a staff role lets its members do; each root field states the one it needs.",
)


@strawberry.type(name="StaffRole", description="A staff role: a name and what it may do.")
class StaffRoleType(Node):
    id: strawberry.ID = strawberry.field(description="The role's id, for roleId arguments.")
    name: str = strawberry.field(description="Its name; a built-in role's is ADMIN, BILLING, …")
    permissions: list[auth_permissions.StaffPermission] = strawberry.field(
        description="What its members may do."
    )
    built_in: bool = strawberry.field(
        description="One of the four built-in roles, which cannot be changed or deleted."
    )

    @classmethod
    def build(cls, role: Role) -> StaffRoleType:
        return cls(
            id=global_id("StaffRole", role.id),
            name=role.name,
            permissions=sorted(role.permissions),
            built_in=role.built_in,
        )


@strawberry.type(description="A member of staff, as staff administration sees it.")
class Staff(Node):
    id: strawberry.ID = strawberry.field(description="The member's id.")
    email: str = strawberry.field(description="Its login's email address.")
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")
    role: StaffRoleType = strawberry.field(description="Its role: what it may do.")
    disabled: bool = strawberry.field(
        description="Disabled members cannot log in; their sessions ended when disabled."
    )
    two_factor_enabled: bool = strawberry.field(
        description="Whether its login asks for an authenticator code."
    )
    invitation_pending: bool = strawberry.field(
        description="Invited and not in yet: no password was chosen with the emailed link."
    )
    last_login_at: datetime | None = strawberry.field(description="Its last login, if any.")
    created_at: datetime = strawberry.field(description="When it was created or invited.")

    @classmethod
    def build(cls, member: StaffMember) -> Staff:
        return cls(
            id=global_id("Staff", member.id),
            email=member.email,
            first_name=member.first_name,
            last_name=member.last_name,
            role=StaffRoleType.build(member.role),
            disabled=member.disabled,
            two_factor_enabled=member.two_factor_enabled,
            invitation_pending=not member.password_set,
            last_login_at=member.last_login_at,
            created_at=member.created_at,
        )


@strawberry.type(description="A page of the staff, oldest member first.")
class StaffConnection(Connection[Staff]):
    pass


@strawberry.input(description="Whom to invite to the staff, and with which role.")
class InviteStaffInput:
    email: str = strawberry.field(description="The address the set-password link goes to.")
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")
    role_id: strawberry.ID = strawberry.field(description="The role (staffRoles) it gets.")


@strawberry.input(description="What to change of a staff member; omitted fields stay.")
class UpdateStaffInput:
    email: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new login address."
    )
    first_name: str | None = strawberry.field(default=strawberry.UNSET, description="First name.")
    last_name: str | None = strawberry.field(default=strawberry.UNSET, description="Last name.")
    role_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Another role; refused when it would leave nobody able to manage staff.",
    )


@strawberry.input(description="A custom staff role to create (no id) or change.")
class StaffRoleInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The custom role to change; omitted: a new role."
    )
    name: str = strawberry.field(description="Its name, unique whatever the case.")
    permissions: list[auth_permissions.StaffPermission] = strawberry.field(
        description="What its members may do (at least one)."
    )


@strawberry.type(description="The result of a change to a staff member.")
class StaffPayload:
    staff: Staff | None = strawberry.field(
        default=None, description="The member as it now is; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="The result of saving a staff role.")
class StaffRolePayload:
    role: StaffRoleType | None = strawberry.field(
        default=None, description="The role as saved; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
