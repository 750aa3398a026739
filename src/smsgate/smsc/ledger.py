"""What the simulator remembers of recent messages: the answers to query_sm and cancel_sm.

A carrier keeps a message's state for days; the simulator keeps the last ``capacity`` messages
(``SimConfig.remember``, 100,000 by default) in arrays allocated once, about 41 octets a message
(4 MB by default), so a load test of millions runs in steady memory and accepting a message only
stores six values.  An older id is answered as a carrier answers for one past its retention:
ESME_RQUERYFAIL / ESME_RCANCELFAIL.

A message's fate is drawn when it is accepted (:mod:`smsgate.smsc.outcome`): it is ENROUTE until
``final_at``, then in its outcome's state with that moment as its final_date.  For a message
with a receipt, "then" is when the receipt falls due and is handed out (:meth:`Ledger.settle`),
so query_sm never reports an outcome whose receipt has not been sent yet.  A cancel_sm before
then makes it DELETED at once and its receipt is never sent; after then it fails.  Ids are looked up as numbers, so the
submit_sm_resp spelling ("1A2B3C1") and the receipt's ("0001a2b3c1") both work.  A message is
only found for the system_id that submitted it and, when the request names one, for the
source_addr it was sent from (SMPP 3.4 §4.8.1, §4.9.1).
"""

from __future__ import annotations

import re
from array import array
from datetime import UTC, datetime

from smsgate.smsc.outcome import Outcome

__all__ = ["DELETED", "ENROUTE", "FORGOTTEN", "INVALID", "Ledger", "smpp_time"]

ENROUTE = 1  # message_state values (SMPP 3.4 §5.2.28)
DELETED = 4

INVALID = -1  # Ledger.find: an id this simulator never issued
FORGOTTEN = -2  # Ledger.find: issued, but no longer remembered, or not the asker's

_SETTLED = 1  # its receipt fell due: final
_CANCELLED = 2
_RECEIPT = 4  # a receipt is scheduled: final when settled, not by the clock
_HEX_ID = re.compile(r"[0-9A-Fa-f]{1,64}")


class Ledger:
    """The state of the last ``capacity`` messages, numbered from ``first`` upwards."""

    def __init__(self, capacity: int, first: int) -> None:
        self._capacity = capacity
        self._first = first
        self._last = first - 1
        self._ids = array("q", [-1]) * capacity
        self._final_at = array("d", [0.0]) * capacity  # unix seconds
        self._sources = array("q", [0]) * capacity  # hash(source_addr): 8 octets, not a str
        self._flags = bytearray(capacity)
        self._outcomes: list[Outcome | None] = [None] * capacity
        self._owners: list[str] = [""] * capacity  # system_ids: one shared str per session
        self._cancelled_receipts: set[int] = set()  # cancelled, receipt not yet due

    def add(self, n: int, owner: str, source: str, outcome: Outcome, final_at: float, receipt: bool) -> None:
        """Remember message ``n`` (numbers only grow); the oldest one gives its place."""
        i = n % self._capacity
        self._ids[i] = n
        self._owners[i] = owner
        self._sources[i] = hash(source)
        self._outcomes[i] = outcome
        self._final_at[i] = final_at
        self._flags[i] = _RECEIPT if receipt else 0
        self._last = n

    def find(self, message_id: str, owner: str, source: str) -> int:
        """The slot of ``message_id`` if ``owner`` submitted it (from ``source``, unless that is
        empty) and it is remembered; else INVALID or FORGOTTEN."""
        if not _HEX_ID.fullmatch(message_id):
            return INVALID
        n = int(message_id, 16)
        if not self._first <= n <= self._last:
            return INVALID
        i = n % self._capacity
        if self._ids[i] != n or self._owners[i] != owner or (source and self._sources[i] != hash(source)):
            return FORGOTTEN
        return i

    def state(self, slot: int, now: float) -> tuple[int, str, int]:
        """(message_state, final_date, error_code) as query_sm_resp reports them."""
        flags, final_at = self._flags[slot], self._final_at[slot]
        if flags & _CANCELLED:
            return DELETED, smpp_time(final_at), 0
        if not _final(flags, final_at, now):
            return ENROUTE, "", 0
        outcome = self._outcomes[slot]
        assert outcome is not None
        return outcome.state, smpp_time(final_at), int(outcome.err)

    def cancel(self, slot: int, now: float) -> bool:
        """Make a message that is not final yet DELETED; False if it already is final."""
        flags = self._flags[slot]
        if flags & _CANCELLED or _final(flags, self._final_at[slot], now):
            return False
        self._flags[slot] = flags | _CANCELLED
        self._final_at[slot] = now
        if flags & _RECEIPT:
            self._cancelled_receipts.add(self._ids[slot])
        return True

    def settle(self, n: int) -> bool:
        """Message ``n``'s receipt falls due: True to send it, False if it was cancelled."""
        if self._cancelled_receipts and n in self._cancelled_receipts:
            self._cancelled_receipts.discard(n)
            return False
        i = n % self._capacity
        if self._ids[i] == n:
            self._flags[i] |= _SETTLED
        return True


def _final(flags: int, final_at: float, now: float) -> bool:
    return bool(flags & _SETTLED) if flags & _RECEIPT else now >= final_at


def smpp_time(ts: float) -> str:
    """Unix seconds as an SMPP absolute time in UTC, "YYMMDDhhmmsstnnp" (SMPP 3.4 §7.1.1)."""
    d = datetime.fromtimestamp(ts, UTC)
    return f"{d:%y%m%d%H%M%S}{d.microsecond // 100_000}00+"
