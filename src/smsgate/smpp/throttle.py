"""Pacing for a carrier link: a token bucket for the contracted TPS and a pause after the SMSC
says it is throttling us.

Both are per channel and in-process: a carrier's limit applies to our bind, not to the cluster,
so nothing here needs shared state.  Both sleep on the event loop; neither holds a lock while
sleeping, so a cancelled waiter never blocks the others.
"""

from __future__ import annotations

import asyncio
import time

from smsgate.domain.bucket import gcra

__all__ = ["Pause", "TokenBucket"]


class TokenBucket:
    """At most ``rate`` acquisitions per second, with bursts of at most ``burst``
    (:mod:`smsgate.domain.bucket`, borrowing).

    Each caller reserves its token at once (the balance may go negative) and sleeps off its own
    debt: waiters are served in arrival order without a lock or a wake-up storm.  ``rate`` <= 0
    means unlimited.  The default burst of 1 paces sends evenly, which is what carriers that
    count per sliding second expect.
    """

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.rate = rate
        self._capacity = max(burst, 1.0)
        self._tat = time.monotonic()  # full

    async def acquire(self) -> None:
        if self.rate <= 0:
            return
        self._tat, wait = gcra(self._tat, time.monotonic(), 1, self.rate, self._capacity, borrow=True)
        if wait > 0:
            await asyncio.sleep(wait)


class Pause:
    """A pause on new submits after ESME_RTHROTTLED / ESME_RMSGQFUL.

    ``trip`` starts a pause of the current length; a refusal that arrives *during* a pause was
    sent before it, so only a refusal after the pause has ended doubles the length (up to
    ``cap``).  ``reset`` (on an accepted submit) brings the length back to ``base``.
    """

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = max(cap, base)
        self._length = base
        self._until = 0.0

    @property
    def active(self) -> bool:
        return time.monotonic() < self._until

    def trip(self) -> float:
        """Start (or keep) a pause; returns the seconds it lasts from now."""
        now = time.monotonic()
        if now >= self._until:
            self._until = now + self._length
            self._length = min(self._length * 2, self.cap)
        return self._until - now

    def reset(self) -> None:
        self._length = self.base

    async def wait(self) -> None:
        """Return once no pause is in force (a pause may be extended while we sleep)."""
        while (left := self._until - time.monotonic()) > 0:
            await asyncio.sleep(left)
