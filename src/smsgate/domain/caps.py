"""The daily frequency cap and opt-outs: which messages of a batch may go.

The one rule, written once: a number may get ``room(count, cap) = max(cap - count, 0)`` more
messages today; a batch's messages to it take that room in their order, except those whose
(number, signature) opted out, which are refused first and take none.  The store applies it to
its ``daily_counts`` (:func:`charge`), and the Redis counters of ``limits.caps`` grant
``min(wanted, room)`` per number in their Lua script, whose grants :func:`screen` then hands
out the same way; one table-driven test runs the same cases against all three (SQLite,
PostgreSQL, Redis).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from smsgate.domain import errors

__all__ = ["Addressed", "charge", "room", "screen", "wanted"]

Outcome = errors.SmsgateError | None  # None: the message may go


class Addressed(Protocol):
    @property
    def e164(self) -> str: ...

    @property
    def sign_id(self) -> str: ...


def room(count: int, cap: int) -> int:
    """How many more messages a number that has ``count`` today may get under ``cap``."""
    return max(cap - count, 0)


def wanted(candidates: Sequence[Addressed], opted: Collection[tuple[str, str]]) -> dict[str, int]:
    """Per number, the candidates that did not opt out: what is asked of the counters."""
    wants: dict[str, int] = {}
    for c in candidates:
        if (c.e164, c.sign_id) not in opted:
            wants[c.e164] = wants.get(c.e164, 0) + 1
    return wants


def screen(candidates: Sequence[Addressed], opted: Collection[tuple[str, str]],
           granted: dict[str, int]) -> list[Outcome]:
    """Each candidate's outcome: opted out, over the cap, or ``None`` (it goes), in order,
    taking ``granted`` (per number, how many may go) down in place."""
    outcomes: list[Outcome] = []
    for c in candidates:
        if opted and (c.e164, c.sign_id) in opted:
            outcomes.append(errors.RecipientOptedOut())
        elif granted.get(c.e164, 0) > 0:
            granted[c.e164] -= 1
            outcomes.append(None)
        else:
            outcomes.append(errors.FrequencyCapExceeded())
    return outcomes


def charge(candidates: Sequence[Addressed], opted: Collection[tuple[str, str]],
           counts: dict[str, int], cap: int) -> list[Outcome]:
    """:func:`screen` against today's ``counts`` (every candidate's number in it), which are
    raised in place by the messages that go."""
    left = {e164: room(n, cap) for e164, n in counts.items()}
    outcomes = screen(candidates, opted, left)
    for e164, n in counts.items():
        counts[e164] = n + room(n, cap) - left[e164]
    return outcomes
