"""The one token bucket: GCRA, a bucket kept as one timestamp (the "theoretical arrival time").

``n`` tokens cost ``n / rate`` seconds, and a take goes through when the bucket's debt after it
stays within the burst (``burst`` tokens, at least one).  A take larger than the burst goes
through when the bucket is full and leaves it in debt, so big batches are never starved and the
long-run rate still holds.  Over any window of ``W`` seconds a bucket grants at most
``rate * W + burst`` tokens.

Written by hand: a few lines of arithmetic.  Its users keep the timestamp where they need it:
``limits.rate`` per key in process (and the same arithmetic in a Redis script for the cluster),
``smpp.throttle`` per carrier link, ``auth.audit`` per kind of log line.
"""

from __future__ import annotations

__all__ = ["capacity", "gcra"]


def gcra(tat: float, now: float, n: int, per_second: float, burst: float,
         *, borrow: bool = False) -> tuple[float, float]:
    """One decision: ``(new_tat, 0.0)`` when granted, else ``(tat, seconds_to_wait)``.

    ``tat`` is when the bucket is full again; ``burst`` is the capacity in tokens.  With
    ``borrow`` the tokens are always taken, the bucket going into debt: ``(new_tat, wait)``,
    where ``wait`` is how long the taker must sleep before using them (callers served in
    order, each sleeping off its own debt)."""
    start = max(tat, now)
    new_tat = start + n / per_second
    wait = new_tat - max(burst, n) / per_second - now
    if borrow:
        return new_tat, max(wait, 0.0)
    return (tat, wait) if wait > 0 else (new_tat, 0.0)


def capacity(per_second: float, burst_seconds: float) -> float:
    """A burst of ``burst_seconds`` worth of tokens, at least one."""
    return max(1.0, per_second * burst_seconds)
