"""Wrong card secrets, counted per staff member in Redis, shared by every API process (SPEC 4.3).

Each staff member may present ALLOWANCE wrong secrets; the last of them starts a back-off
during which their reveals are refused without the secret being compared (or audited), and
every wrong secret after it doubles the back-off, up to MAX_BACKOFF_SECONDS. The count is
kept for WINDOW_SECONDS after the last wrong secret, longer than the longest back-off, so that
waiting one out does not bring the allowance back. A right secret clears it all.

As with logins (domain.auth.throttle), an attempt is counted as wrong before its secret is
compared, in one atomic step with the check of the back-off: otherwise concurrent requests
would all be compared before the first of them was counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from enum import StrEnum

from redis.asyncio import Redis

log = logging.getLogger(__name__)

ALLOWANCE = 3
FIRST_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600
WINDOW_SECONDS = 24 * 3600

# KEYS: wrong count, back-off. ARGV: allowance, window, first back-off, longest back-off.
# The back-off's remaining milliseconds when one holds (nothing counted), else 0 (counted).
# The attempt that would be the allowance's last starts the back-off at once: concurrent
# attempts must not slip in while its secret is being compared.
_BEGIN = """
local waiting = redis.call('PTTL', KEYS[2])
if waiting > 0 then return waiting end
local wrong = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local beyond = wrong - tonumber(ARGV[1])
if beyond >= 0 then
  local seconds = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ beyond)
  redis.call('SET', KEYS[2], 1, 'EX', math.floor(seconds))
end
return 0
"""

# No secret was compared: the attempt is given back, and so is the back-off it started.
_GIVE_BACK = """
local wrong = tonumber(redis.call('GET', KEYS[1]) or '0')
if wrong > 0 then wrong = redis.call('DECR', KEYS[1]) end
if wrong < tonumber(ARGV[1]) then redis.call('DEL', KEYS[2]) end
return 1
"""


class SecretRefusal(StrEnum):
    WRONG = "wrong"  # compared, and wrong
    BACKING_OFF = "backing_off"  # refused uncompared, during a back-off


class CardSecretAttempts:
    def __init__(
        self,
        redis: Redis,
        *,
        on_refusal: Callable[[SecretRefusal], None],
        allowance: int = ALLOWANCE,
        first_backoff_seconds: int = FIRST_BACKOFF_SECONDS,
        max_backoff_seconds: int = MAX_BACKOFF_SECONDS,
        window_seconds: int = WINDOW_SECONDS,
    ) -> None:
        self._redis = redis
        self._on_refusal = on_refusal  # the installation's metrics count them
        self._args = [allowance, window_seconds, first_backoff_seconds, max_backoff_seconds]
        self._begin = redis.register_script(_BEGIN)
        self._give_back = redis.register_script(_GIVE_BACK)

    @staticmethod
    def _keys(login_id: int) -> list[str]:
        return [f"card-secret:wrong:{login_id}", f"card-secret:backoff:{login_id}"]

    async def begin(self, login_id: int) -> int:
        """0 when the staff member may present a secret now (counted as wrong until `right`
        says otherwise), else the seconds until they may."""
        waiting_ms = int(await self._begin(keys=self._keys(login_id), args=self._args))
        if waiting_ms:
            self._on_refusal(SecretRefusal.BACKING_OFF)
        return math.ceil(waiting_ms / 1000)

    async def wrong(self, login_id: int) -> None:
        """The secret was wrong (already counted); say so when it started or lengthened a
        back-off: someone may be guessing with this staff member's session."""
        self._on_refusal(SecretRefusal.WRONG)
        count_key, backoff_key = self._keys(login_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(count_key)
            pipe.ttl(backoff_key)
            wrong, backoff = await pipe.execute()
        if backoff > 0:
            log.warning(
                "%s wrong card secrets in a row from staff login %d: its card reveals are "
                "refused for %d s",
                int(wrong or 0),
                login_id,
                backoff,
            )

    async def right(self, login_id: int) -> None:
        await self._redis.delete(*self._keys(login_id))

    async def give_back(self, login_id: int) -> None:
        """The attempt was refused before its secret was compared (no such card)."""
        await self._give_back(keys=self._keys(login_id), args=self._args[:1])
