"""Rate limits shared by every process: a project's accept rate, a channel's submit rate.

The algorithm is :mod:`smsgate.domain.bucket`'s GCRA, with a burst of ``burst_seconds`` worth
of tokens (at least one).

``RedisRate`` keeps the timestamp in Redis and reads the time from the Redis server, so all
processes share one bucket and one clock; ``LocalRate`` is the same for a single process.
``per_second <= 0`` means unlimited (as in ``smpp.throttle``).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from smsgate.domain import errors
from smsgate.domain.bucket import capacity, gcra
from smsgate.limits._redis import TIMEOUT, connect, unavailable_as_503

__all__ = ["LocalRate", "RateLimiter", "RedisRate", "TokenReserve", "take"]

BURST_SECONDS = 0.1


class RateLimiter(Protocol):
    def acquire(self, key: str, n: int, per_second: float) -> float:
        """0.0 when ``n`` tokens were taken; else the seconds to wait before trying again
        (nothing is taken then)."""
        ...


class LocalRate:
    """:class:`RateLimiter` for one process (no Redis); thread-safe."""

    def __init__(
        self, burst_seconds: float = BURST_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst_seconds = burst_seconds
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, n: int, per_second: float) -> float:
        if per_second <= 0 or n <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            burst = capacity(per_second, self.burst_seconds)
            tat, wait = gcra(self._tats.get(key, now), now, n, per_second, burst)
            self._tats[key] = tat
        return wait


# Written by hand (no library does it): domain.bucket's GCRA decision, atomic in Redis, in
# microseconds of the Redis server's clock.  Granted: stores the new TAT (rounded up, so rounding
# never grants more) with an expiry once the bucket would be full again, and returns 0; refused:
# returns the microseconds to wait.  KEYS[1] the bucket; ARGV n, per_second, capacity.
_GCRA = """
local n = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = math.ceil(tat + n * 1000000 / rate)
local wait = new_tat - math.max(burst, n) * 1000000 / rate - now
if wait > 0 then
  return math.ceil(wait)
end
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return 0
"""


class RedisRate:
    """:class:`RateLimiter` shared by every process through Redis: one round trip per call.
    Keys are ``{prefix}rate:<key>``.  Redis down → :class:`errors.ServiceUnavailable`."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "smsgate:",
        burst_seconds: float = BURST_SECONDS,
        timeout: float = TIMEOUT,
    ) -> None:
        self.prefix = prefix
        self.burst_seconds = burst_seconds
        self._redis = connect(url, timeout)
        self._gcra = self._redis.register_script(_GCRA)

    def acquire(self, key: str, n: int, per_second: float) -> float:
        if per_second <= 0 or n <= 0:
            return 0.0
        args = [n, repr(float(per_second)), repr(capacity(per_second, self.burst_seconds))]
        with unavailable_as_503("rate limits"):
            wait_us = self._gcra(keys=[f"{self.prefix}rate:{key}"], args=args)
        return int(wait_us) / 1e6

    def close(self) -> None:
        self._redis.close()


async def _acquire(limiter: RateLimiter, key: str, n: int, per_second: float) -> float:
    if isinstance(limiter, LocalRate):
        return limiter.acquire(key, n, per_second)
    return await asyncio.to_thread(limiter.acquire, key, n, per_second)  # a network round trip


async def take(limiter: RateLimiter, key: str, n: int, per_second: float) -> None:
    """Wait until ``n`` tokens are granted.  A shared limiter is asked from a thread so a slow
    Redis never blocks the event loop; its :class:`errors.ServiceUnavailable` propagates."""
    while (wait := await _acquire(limiter, key, n, per_second)) > 0:
        await asyncio.sleep(wait)


class TokenReserve:
    """Tokens of one hot key (a channel's submit rate) taken from the shared limiter in chunks,
    so a 5,000/s channel pays a round trip every few hundred submits, not every one.

    The chunk adapts to this process's demand: it starts at 1 token, doubles while a chunk lasts
    less than ``chunk_seconds`` and halves when one lasts over four times that, never above
    ``chunk_seconds`` worth of the rate — so an idle worker does not sit on tokens the busy ones
    need.  Tokens held for longer than ``stale_after`` seconds are dropped rather than spent in a
    burst.  The cluster can therefore exceed the rate by at most one chunk per process.

    When the limiter cannot answer (Redis down) the take fails closed with
    :class:`errors.ServiceUnavailable`, and for ``retry_after`` seconds every take that needs a
    top-up fails at once instead of queueing behind the lock for its own timeout: a batch of 500
    submits on a dead Redis ends in one timeout, not 500 of them.

    For one event loop: coroutines of the same loop may share it.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        key: str,
        per_second: float,
        *,
        chunk_seconds: float = 0.1,
        stale_after: float = 1.0,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter, self.key, self.per_second = limiter, key, per_second
        self.chunk_seconds, self.stale_after, self.retry_after = chunk_seconds, stale_after, retry_after
        self.max_chunk = max(1, math.ceil(per_second * chunk_seconds))
        self.chunk = 1
        self._clock = clock
        self._held = 0
        self._granted_at = -math.inf
        self._failed_at = -math.inf
        self._refill = asyncio.Lock()

    @property
    def held(self) -> int:
        return self._held

    async def take(self, n: int = 1) -> None:
        if self.per_second <= 0 or n <= 0:
            return
        async with self._refill:  # one refill at a time; the others then find tokens held
            if self._clock() - self._granted_at > self.stale_after:
                self._held = 0
            if self._held < n:
                if self._clock() - self._failed_at < self.retry_after:
                    raise errors.ServiceUnavailable(f"{self.key}: the shared rate failed a moment ago")
                try:
                    await self._top_up(n)
                except errors.ServiceUnavailable:
                    self._failed_at = self._clock()
                    raise
            self._held -= n

    async def _top_up(self, n: int) -> None:
        lasted = self._clock() - self._granted_at
        if lasted < self.chunk_seconds:
            self.chunk = min(self.chunk * 2, self.max_chunk)
        elif lasted > 4 * self.chunk_seconds:
            self.chunk = max(self.chunk // 2, 1)
        want = max(self.chunk, n - self._held)
        await take(self.limiter, self.key, want, self.per_second)
        self._held += want
        self._granted_at = self._clock()
