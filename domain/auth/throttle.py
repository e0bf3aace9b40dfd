"""Failed-login counting per account and address, per account and per address, shared by
every API process (SPEC 5.4), and the budget of password hashes per login and per address.

An address that guesses an account's password is refused that account after
`max_failures`; the account's owner logs in from anywhere else meanwhile, so that nobody can
lock a named account out by guessing wrong on purpose. The account's own bound, across all
addresses, is ACCOUNT_BUDGET_FACTOR times higher: it still limits a guesser spread over many
addresses to a fixed number of guesses per account and cool-down.

Counters live in Redis so that N API processes, GraphQL aliases and batched requests all
count against the same budget. Each failure restarts the cool-down window.

An attempt is counted before its password is checked, in one atomic step with the budget
check: checking first and counting after the (slow) password check would let concurrent
requests all pass the check before any of them is counted.

Every operation that hashes a password (a login, setting a password) also spends from a
budget per login and per address, whether it succeeds or not: a hash costs about 0.1 s of
CPU, and a logged-in account could otherwise keep the hashing threads of every API process
busy by setting a sub-account's password in a loop. That budget is small for the principals
anyone can become (anonymous callers, clients, sub-accounts), and large but still bounded for
trusted ones made by staff, whose ordinary work (adding clients in bulk) hashes a password
per client: HASH_BUDGET_OF says which kind gets which.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from redis.asyncio import Redis

from domain.auth.viewer import ViewerKind
from domain.validation import normalize_email

# An address is shared by many people behind one NAT, so it gets a larger budget.
ADDRESS_BUDGET_FACTOR = 5
# Failures of one account from all addresses together, in multiples of those allowed from
# one address: past it, the account is refused from every address for the cool-down.
ACCOUNT_BUDGET_FACTOR = 10

# Password hashes a login may cause per window (5× per address), by default; and a trusted
# login (HashBudget.TRUSTED): enough for a staff session to add a thousand clients with
# passwords in a row, still a bound on a stolen session.
PASSWORD_HASH_BUDGET = 30
STAFF_PASSWORD_HASH_BUDGET = 2000
PASSWORD_HASH_WINDOW_SECONDS = 300


class HashBudget(StrEnum):
    """Which budget a principal's password hashes are spent from."""

    # Principals anyone can become: PASSWORD_HASH_BUDGET per login, 5× per address.
    LIMITED = "LIMITED"
    # Principals only staff make, whose hashes the hashing threads bound anyway:
    # STAFF_PASSWORD_HASH_BUDGET per login, and none of the address's, so that an office's
    # staff onboarding clients never spend the budget its own clients log in from.
    TRUSTED = "TRUSTED"


# The budget of each kind of viewer (None: an anonymous request). A new kind of principal
# gets its entry here; a test checks that every kind has one.
HASH_BUDGET_OF: Mapping[ViewerKind | None, HashBudget] = {
    None: HashBudget.LIMITED,
    ViewerKind.CLIENT: HashBudget.LIMITED,
    ViewerKind.CONTACT: HashBudget.LIMITED,
    ViewerKind.STAFF: HashBudget.TRUSTED,
    # Made by staff with MANAGE_STAFF, and bounded by its own request rate limit as well.
    ViewerKind.API_KEY: HashBudget.TRUSTED,
}

# Reset emails one address may be sent per window (5× per requesting address): enough for a
# lost email or two, too few to flood anyone's inbox.
RESET_REQUEST_BUDGET = 5
RESET_REQUEST_WINDOW_SECONDS = 3600

# How long a used TOTP code is remembered: longer than the three 30-second steps accepted.
USED_CODE_SECONDS = 120

# KEYS: counters. ARGV: each counter's budget, then the window. Counts on every counter, or
# (when one is spent) on none.
_BEGIN_ATTEMPT = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[#KEYS + 1])
end
return 1
"""

# Gives back the attempt counted on each key (never below zero, never a key without expiry).
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 1
"""


class LoginThrottle:
    def __init__(
        self,
        redis: Redis,
        *,
        max_failures: int,
        cooldown_seconds: int,
        hash_budget: int = PASSWORD_HASH_BUDGET,
        trusted_hash_budget: int = STAFF_PASSWORD_HASH_BUDGET,
        hash_window_seconds: int = PASSWORD_HASH_WINDOW_SECONDS,
    ) -> None:
        self._redis = redis
        self._max_failures = max_failures
        self._cooldown = cooldown_seconds
        self._hash_budget = hash_budget
        self._trusted_hash_budget = trusted_hash_budget
        self._hash_window = hash_window_seconds
        self._begin_attempt = redis.register_script(_BEGIN_ATTEMPT)
        self._give_back = redis.register_script(_GIVE_BACK)

    @staticmethod
    def _keys(email: str, ip_address: str | None) -> tuple[str, str, str]:
        """The counters of the account from this address, of the account, of the address."""
        # The account's form of the address: every spelling that reaches one account
        # shares its budget (SPEC 5.4), `vİctim@…` and `VICTIM@…` included.
        account = normalize_email(email)
        address = ip_address or "unknown"
        return (
            f"login-failures:account-from-address:{account} {address}",
            f"login-failures:account:{account}",
            f"login-failures:address:{address}",
        )

    async def begin_attempt(self, email: str, ip_address: str | None) -> bool:
        """Count an attempt as failed until it succeeds; False (nothing counted) when blocked."""
        allowed = await self._begin_attempt(
            keys=list(self._keys(email, ip_address)),
            args=[
                self._max_failures,
                self._max_failures * ACCOUNT_BUDGET_FACTOR,
                self._max_failures * ADDRESS_BUDGET_FACTOR,
                self._cooldown,
            ],
        )
        return bool(allowed)

    async def spend_password_hash(
        self, login: str, ip_address: str | None, kind: ViewerKind | None = None
    ) -> bool:
        """Count one password hash against `login`'s budget (an email and address for a login
        attempt, a login id for a password change) and, unless `kind` is trusted, the
        address's; False (nothing counted) when either is spent. The window restarts with
        each hash counted."""
        login_key = f"password-hashes:login:{login.lower()}"
        if HASH_BUDGET_OF[kind] is HashBudget.TRUSTED:
            keys, budgets = [login_key], [self._trusted_hash_budget]
        else:
            keys = [login_key, f"password-hashes:address:{ip_address or 'unknown'}"]
            budgets = [self._hash_budget, self._hash_budget * ADDRESS_BUDGET_FACTOR]
        allowed = await self._begin_attempt(keys=keys, args=[*budgets, self._hash_window])
        return bool(allowed)

    async def spend_reset_request(self, email: str, ip_address: str | None) -> bool:
        """Count a password reset request for `email` (known or not, so that refusals say
        nothing of which exist) and the address; False (nothing counted) when either is
        spent."""
        allowed = await self._begin_attempt(
            keys=[
                f"password-resets:email:{normalize_email(email)}",
                f"password-resets:address:{ip_address or 'unknown'}",
            ],
            args=[
                RESET_REQUEST_BUDGET,
                RESET_REQUEST_BUDGET * ADDRESS_BUDGET_FACTOR,
                RESET_REQUEST_WINDOW_SECONDS,
            ],
        )
        return bool(allowed)

    async def cancel_attempt(self, email: str, ip_address: str | None) -> None:
        """The attempt was no failed guess (right password, but the login cannot go on)."""
        await self._give_back(keys=list(self._keys(email, ip_address)))

    async def record_success(self, email: str, ip_address: str | None) -> None:
        """The owner's earlier failures from this address are forgiven; those from other
        addresses, which may be someone else's guesses, still count."""
        from_address_key, account_key, address_key = self._keys(email, ip_address)
        await self._redis.delete(from_address_key)
        await self._give_back(keys=[account_key, address_key])

    async def claim_totp_code(self, login_id: int, code: str) -> bool:
        """True the first time a login's TOTP code is used; a replayed code is refused
        (RFC 6238, 5.2)."""
        key = f"totp-used:{login_id}:{code}"
        return bool(await self._redis.set(key, 1, nx=True, ex=USED_CODE_SECONDS))
