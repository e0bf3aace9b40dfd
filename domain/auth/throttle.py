"""Failed-login counting per account and per address, shared by every API process (SPEC 5.4).

Counters live in Redis so that N API processes, GraphQL aliases and batched requests all
count against the same budget. Each failure restarts the cool-down window.
"""

from __future__ import annotations

from redis.asyncio import Redis

# An address is shared by many people behind one NAT, so it gets a larger budget.
ADDRESS_BUDGET_FACTOR = 5


class LoginThrottle:
    def __init__(self, redis: Redis, *, max_failures: int, cooldown_seconds: int) -> None:
        self._redis = redis
        self._max_failures = max_failures
        self._cooldown = cooldown_seconds

    @staticmethod
    def _keys(email: str, ip_address: str | None) -> tuple[str, str]:
        return (
            f"login-failures:account:{email.strip().lower()}",
            f"login-failures:address:{ip_address or 'unknown'}",
        )

    async def is_blocked(self, email: str, ip_address: str | None) -> bool:
        account_key, address_key = self._keys(email, ip_address)
        account, address = await self._redis.mget(account_key, address_key)
        return (
            int(account or 0) >= self._max_failures
            or int(address or 0) >= self._max_failures * ADDRESS_BUDGET_FACTOR
        )

    async def record_failure(self, email: str, ip_address: str | None) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in self._keys(email, ip_address):
                pipe.incr(key)
                pipe.expire(key, self._cooldown)
            await pipe.execute()

    async def record_success(self, email: str, ip_address: str | None) -> None:
        account_key, _ = self._keys(email, ip_address)
        await self._redis.delete(account_key)
