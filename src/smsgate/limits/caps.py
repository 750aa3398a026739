"""Per-number daily frequency caps shared by every API process.

The accept path reserves, for each number of a batch, as many of its messages as the cap still
allows, *before* its store transaction; if that transaction does not commit it releases what it
reserved.  A reservation whose reply was lost (Redis answered, then the link broke) stays
counted: the error is on the side of sending fewer messages, never more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import redis

from smsgate.limits._redis import TIMEOUT, connect, unavailable_as_503

__all__ = ["Caps", "RedisCaps"]

TTL_SECONDS = 2 * 86400  # a day's counters outlive the day in any time zone, then vanish

# Written by hand (no library does it): the check-and-increment of every number of a batch in
# one atomic step, so processes racing on the same numbers can never pass the cap together.
# It grants each number min(wanted, room), room = max(cap - count, 0): domain.caps.room, the
# rule the store applies too (tests/test_cap_rule.py runs the same cases against both).
# KEYS[i]: the counter of one number; ARGV[1] cap, ARGV[2] TTL, ARGV[2 + i] wanted for KEYS[i].
_RESERVE = """
local cap = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local granted = {}
for i, key in ipairs(KEYS) do
  local n = math.min(tonumber(ARGV[i + 2]), cap - tonumber(redis.call('GET', key) or '0'))
  if n > 0 then
    redis.call('INCRBY', key, n)
    redis.call('EXPIRE', key, ttl)
  else
    n = 0
  end
  granted[i] = n
end
return granted
"""

# Written by hand: give counts back, never below zero (a counter that expired meanwhile stays
# gone).  KEYS[i]: a counter; ARGV[i]: how many to give back.
_RELEASE = """
for i, key in ipairs(KEYS) do
  if redis.call('DECRBY', key, ARGV[i]) <= 0 then
    redis.call('DEL', key)
  end
end
return 0
"""


class Caps(Protocol):
    def reserve(
        self, project_id: str, day: str, wants: Mapping[str, int], cap: int
    ) -> dict[str, int]:
        """For each E.164 number, how many of the wanted messages may go now (0..wanted), taken
        atomically: never more than ``cap`` per (project, number, day) in all."""
        ...

    def release(self, project_id: str, day: str, counts: Mapping[str, int]) -> None:
        """Give back a reservation whose batch did not commit."""
        ...

    def peek(self, project_id: str, day: str, numbers: Iterable[str]) -> dict[str, int]:
        """Each number's count for the day, reserving nothing (the dry run)."""
        ...

    def ping(self) -> bool:
        """Whether the counters can be reached now (for /healthz)."""
        ...


class RedisCaps:
    """:class:`Caps` in Redis: one round trip per batch, whatever its size.

    Keys are ``{prefix}cap:{<project>:<day>}:<e164>``; the braces are a Redis Cluster hash tag,
    so the counters of one batch share a slot and one script may touch them all.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "smsgate:",
        timeout: float = TIMEOUT,
        ttl_seconds: int = TTL_SECONDS,
    ) -> None:
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._redis = connect(url, timeout)
        self._reserve = self._redis.register_script(_RESERVE)
        self._release = self._redis.register_script(_RELEASE)

    def key(self, project_id: str, day: str, e164: str) -> str:
        return f"{self.prefix}cap:{{{project_id}:{day}}}:{e164}"

    def reserve(
        self, project_id: str, day: str, wants: Mapping[str, int], cap: int
    ) -> dict[str, int]:
        granted = dict.fromkeys(wants, 0)
        asked = [(e164, n) for e164, n in wants.items() if n > 0]
        if not asked or cap <= 0:
            return granted
        keys = [self.key(project_id, day, e164) for e164, _ in asked]
        with unavailable_as_503("frequency caps"):
            got = self._reserve(keys=keys, args=[cap, self.ttl_seconds, *(n for _, n in asked)])
        granted.update(zip((e164 for e164, _ in asked), map(int, got)))
        return granted

    def release(self, project_id: str, day: str, counts: Mapping[str, int]) -> None:
        back = [(e164, n) for e164, n in counts.items() if n > 0]
        if not back:
            return
        with unavailable_as_503("frequency caps"):
            self._release(
                keys=[self.key(project_id, day, e164) for e164, _ in back],
                args=[n for _, n in back],
            )

    def peek(self, project_id: str, day: str, numbers: Iterable[str]) -> dict[str, int]:
        numbers = list(dict.fromkeys(numbers))
        if not numbers:
            return {}
        with unavailable_as_503("frequency caps"):
            values = self._redis.mget([self.key(project_id, day, e164) for e164 in numbers])
        return {e164: int(v or 0) for e164, v in zip(numbers, values)}

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._redis.close()
