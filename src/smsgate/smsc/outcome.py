"""What happens to a message on the simulated handset side, and the ids the "carrier" assigns.

The outcome mix
---------------
A part is DELIVRD with probability ``deliver_ratio``; the rest is split 80 % UNDELIV (err 001),
10 % EXPIRED (err 027) and 10 % REJECTD (err 011), so a gateway sees every final failure kind.

All parts of one concatenated message share one draw, taken from a hash of (salt, destination,
UDH reference, total), so "a multipart message is DELIVRD when all its parts are" holds most of
the time; but 10 % of parts (again chosen by hash) draw on their own, so mixed outcomes occur
too (with deliver_ratio 0.5 about 5 % of parts disagree with their siblings).  Redrawing rather
than flipping keeps every part's marginal odds equal to ``deliver_ratio``.  Single-part messages
draw from a ``random.Random(seed)`` in submit order.  With a seed both paths are reproducible.

Ids
---
Ids are a counter written in hex, spelt two ways on purpose, as carriers do: UPPER case in
submit_sm_resp ("1A2B3C1") and lower case zero-padded to 10 digits in receipts ("0001a2b3c1"),
so a gateway that compares ids as strings fails here rather than in production.  Unseeded, the
counter starts at ``(unix seconds mod 2**20) << 16``: a restarted simulator continues above the
ids of the previous run (unless that run averaged over 65,536 messages a second), so stale
receipts cannot match new messages.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass

__all__ = ["DELIVERED", "Outcome", "OutcomePicker", "receipt_id", "resp_id", "first_id"]

_SPLIT_SHARE = 0.10  # parts of a concatenated message that ignore their siblings' outcome
_SEEDED_BASE = 0x1A2B3C0


@dataclass(frozen=True, slots=True)
class Outcome:
    """A final receipt: the stat word, its err code, and the message_state TLV (§5.2.28)."""

    stat: str
    err: str
    state: int


DELIVERED = Outcome("DELIVRD", "000", 2)
_FAILURES = ((0.8, Outcome("UNDELIV", "001", 5)), (0.9, Outcome("EXPIRED", "027", 3)),
             (1.0, Outcome("REJECTD", "011", 8)))  # fmt: skip


class OutcomePicker:
    """Draws outcomes as the module docstring describes."""

    def __init__(self, deliver_ratio: float, seed: int | None) -> None:
        self._ratio = deliver_ratio
        self._rng = random.Random(seed)
        self._salt = seed if seed is not None else self._rng.getrandbits(64)

    def pick(self, destination: str, concat: tuple[int, int, int] | None) -> Outcome:
        """The outcome of one part; ``concat`` is its UDH (ref, total, index) if any."""
        if concat is None:
            return self._outcome(self._rng.random())
        ref, total, index = concat
        if self._uniform(destination, ref, total, index, "split") < _SPLIT_SHARE:
            return self._outcome(self._uniform(destination, ref, total, index))
        return self._outcome(self._uniform(destination, ref, total))

    def _outcome(self, u: float) -> Outcome:
        if u < self._ratio:
            return DELIVERED
        v = (u - self._ratio) / (1.0 - self._ratio)
        return next(outcome for bound, outcome in _FAILURES if v < bound)

    def _uniform(self, *key: object) -> float:
        """A stable draw in [0, 1) for ``key``: the same message gets the same answer."""
        data = "|".join(map(str, (self._salt, *key))).encode()
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") / 2.0**64


def first_id(seed: int | None) -> int:
    """Where the id counter starts (see the module docstring)."""
    if seed is not None:
        return _SEEDED_BASE
    return (int(time.time()) & 0xFFFFF) << 16


def resp_id(n: int) -> str:
    """The id as submit_sm_resp spells it: upper-case hex, no padding."""
    return format(n, "X")


def receipt_id(n: int) -> str:
    """The same id as receipts spell it: lower-case hex, zero-padded to 10 digits."""
    return format(n, "010x")
