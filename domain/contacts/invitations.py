"""Sub-account invitations (SPEC 2.4): a sub-account made without a password gets its login
only when whoever reads its address accepts the emailed invitation and chooses a password.

So the account holder (who never sets a sub-account's password) cannot claim an address it
does not control. Inviting is the same few statements whatever the address: whether another
login already holds it is found out only on acceptance, and told only to the reader of the
invitation, who holds the address. The account holder's answer, its email log and its
contact list therefore say nothing of other accounts.

An invitation's link is a one-time token (`domain.auth.password_tokens`, purpose INVITATION)
held by the contact, valid INVITATION_TOKEN_TTL; sending again voids the older link, and
turning the sub-account off, deleting the contact or changing its address voids it too.
"""

from __future__ import annotations

import asyncpg

from domain import audit
from domain.auth.password_tokens import (
    INVITATION_TOKEN_TTL,
    TokenPurpose,
    issue_token,
    redeem_token,
    revoke_tokens,
    well_formed,
)
from domain.auth.passwords import hash_password
from domain.clients.models import ClientStatus
from domain.emails.outbox import queue_email
from domain.errors import DomainError, ErrorCode
from domain.staff.invitations import accept_staff_invitation
from domain.validation import InputCheck

TEMPLATE = "sub_account_invitation"
INVITATIONS_PER_HOUR = 20

_INVALID_TOKEN = DomainError.single(
    ErrorCode.INVALID,
    "This invitation link is invalid, has expired, was withdrawn or was used already; ask "
    "the account holder to send a new one.",
    "token",
)
_ADDRESS_HAS_A_LOGIN = DomainError.single(
    ErrorCode.CONFLICT,
    "This address already has a login here, and a login belongs to one account: ask the "
    "account holder to invite another address.",
    "token",
)

_ACCOUNT_CLOSED = DomainError.single(
    ErrorCode.ACCOUNT_CLOSED,
    "This account is closed, so its sub-accounts cannot sign in; the invitation stays valid "
    "until it expires should the account be reopened.",
    "token",
)


async def invite(conn: asyncpg.Connection, contact_id: int, *, client_area_url: str) -> None:
    """Email the contact's address an invitation to become its sub-account login, voiding any
    earlier link. The contact must have no login; it is a sub-account from now on.

    An account sends at most INVITATIONS_PER_HOUR: invitations go to addresses no one has
    vouched for, and must not become a way to flood an inbox."""
    row = await conn.fetchrow(
        """SELECT ct.first_name, ct.last_name, ct.email::text AS email, ct.client_id,
                  c.first_name || ' ' || c.last_name AS holder_name, c.company_name,
                  (SELECT count(*) FROM emails e
                    WHERE e.client_id = ct.client_id AND e.template = $2
                      AND e.created_at > now() - interval '1 hour') AS sent_lately
             FROM contacts ct JOIN clients c ON c.id = ct.client_id WHERE ct.id = $1""",
        contact_id,
        TEMPLATE,
    )
    if row["sent_lately"] >= INVITATIONS_PER_HOUR:
        raise DomainError.single(
            ErrorCode.TOO_MANY_ATTEMPTS,
            "This account sent too many invitations in the last hour; try again later.",
            "sub_account",
        )
    await conn.execute("UPDATE contacts SET invited_at = now() WHERE id = $1", contact_id)
    token = await issue_token(conn, contact_id, TokenPurpose.INVITATION, ttl=INVITATION_TOKEN_TTL)
    await queue_email(
        conn,
        template=TEMPLATE,
        to_address=row["email"],
        to_name=f"{row['first_name']} {row['last_name']}",
        client_id=row["client_id"],
        contact_id=contact_id,
        context={
            "invitee": {"first_name": row["first_name"], "email": row["email"]},
            "account": {"name": row["holder_name"], "company_name": row["company_name"]},
            "valid_hours": int(INVITATION_TOKEN_TTL.total_seconds() // 3600),
            "client_area_url": client_area_url,
            "secret": {"token": token},
        },
    )


async def withdraw(conn: asyncpg.Connection, contact_id: int) -> None:
    """The contact's invitation links stop working and it is no longer waiting for one."""
    await revoke_tokens(conn, contact_id, TokenPurpose.INVITATION)
    await conn.execute("UPDATE contacts SET invited_at = NULL WHERE id = $1", contact_id)


async def accept_invitation(conn: asyncpg.Connection, token: str, password: str) -> None:
    """Spend an invitation token: the invited contact gets a login with its address and this
    password (or, for a staff invitation, the invited member's login gets it). Refused input
    (a bad password, an address some login holds) leaves the token live; the address is
    checked before the password is hashed."""
    if not well_formed(token):
        raise _INVALID_TOKEN
    check = InputCheck()
    check.password("password", password)
    check.raise_if_failed()
    async with conn.transaction():
        contact_id = await redeem_token(conn, token, TokenPurpose.INVITATION)
        if contact_id is None:
            # The same link page and mutation serve new staff members (SPEC 11.1).
            if await accept_staff_invitation(conn, token, password):
                return
            raise _INVALID_TOKEN
        contact = await conn.fetchrow(
            """SELECT ct.client_id, ct.email::text AS email, c.status
                 FROM contacts ct JOIN clients c ON c.id = ct.client_id
                WHERE ct.id = $1 FOR UPDATE OF ct""",
            contact_id,
        )
        if contact["status"] == ClientStatus.CLOSED:
            raise _ACCOUNT_CLOSED  # no login of a closed account may sign in (SPEC 1.3)
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM logins WHERE email = $1)", contact["email"]
        ):
            raise _ADDRESS_HAS_A_LOGIN
        login_id = await conn.fetchval(
            """INSERT INTO logins (email, password_hash) VALUES ($1, $2)
               ON CONFLICT (email) DO NOTHING RETURNING id""",
            contact["email"],
            await hash_password(password),
        )
        if login_id is None:
            raise _ADDRESS_HAS_A_LOGIN  # taken by a concurrent request since checked
        await withdraw(conn, contact_id)
        await conn.execute(
            "UPDATE contacts SET login_id = $2, updated_at = now() WHERE id = $1",
            contact_id,
            login_id,
        )
        await audit.record(
            conn,
            staff_id=None,
            action="contact.invitation_accepted",
            client_id=contact["client_id"],
            changes={"contact_id": contact_id, "login": contact["email"]},
        )
