"""A message's life, as the store keeps it (SPEC §4): the states, which are final, and how a
delivery receipt's stat word settles a message.

``MessageState`` is str-valued: its members are the very strings stored in ``messages.state``
(and written literally in the store's SQL, where partial indexes name them).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = ["FINAL", "FINAL_STATS", "NO_RECEIPT", "OPEN", "REPORT_STATES", "MessageState", "settle"]


class MessageState(StrEnum):
    QUEUED = "QUEUED"  # accepted, waiting for its time (window, retry backoff) or a worker
    SENDING = "SENDING"  # claimed by a worker, under its lease
    SUBMITTED = "SUBMITTED"  # every part taken by the SMSC, waiting for receipts
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


OPEN = (MessageState.QUEUED, MessageState.SENDING, MessageState.SUBMITTED)
FINAL = (MessageState.DELIVERED, MessageState.FAILED, MessageState.EXPIRED)

# How a receipt's final stat word maps onto a final state (SPEC §4 delivery status words);
# ENROUTE and ACCEPTD are not final and change nothing.
FINAL_STATS: dict[str, MessageState] = {
    "DELIVRD": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.FAILED,
    "UNDELIV": MessageState.FAILED,
    "REJECTD": MessageState.FAILED,
    "UNKNOWN": MessageState.FAILED,
}
NO_RECEIPT = "NO_RECEIPT"  # the status_desc of a message whose receipt never came
# When parts disagree the worst one wins (higher is worse).
_SEVERITY = {"DELIVRD": 0, "EXPIRED": 1, "UNKNOWN": 2, "DELETED": 3, "UNDELIV": 4, "REJECTD": 5}

# The customer report's status filter: 0 sent without a receipt yet, 1 delivered, 2 failed.
REPORT_STATES: dict[int, tuple[MessageState, ...]] = {
    0: OPEN,
    1: (MessageState.DELIVERED,),
    2: (MessageState.FAILED, MessageState.EXPIRED),
}


def settle(stats: Iterable[str | None]) -> tuple[MessageState, str]:
    """A message's final state and status_desc from its parts' receipts: DELIVERED when every
    part is DELIVRD, otherwise the worst part's stat wins (a missing one counts as UNKNOWN)."""
    worst = max((stat or "UNKNOWN" for stat in stats), key=lambda s: _SEVERITY.get(s, 2))
    return FINAL_STATS[worst], worst
