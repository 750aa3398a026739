"""The console's dashboard: the store's counts (``store.reports``) shaped for the charts,
delivery rates by channel and by mainland carrier."""

from __future__ import annotations

from smsgate.console.messages import carrier_of
from smsgate.store.db import Db
from smsgate.store.history import MINUTE_MS, STATES
from smsgate.store.reports import Counts, dashboard


def _rate(counts: Counts) -> dict:
    delivered = counts.get("DELIVERED", 0)
    failed = counts.get("FAILED", 0) + counts.get("EXPIRED", 0)
    total = delivered + failed
    return {"delivered": delivered, "failed": failed, "rate": delivered / total if total else None}


def _add(into: Counts, counts: Counts) -> None:
    for state, n in counts.items():
        into[state] = into.get(state, 0) + n


def summary(db: Db, now: int, minutes: int = 60) -> dict:
    """Messages accepted in the last ``minutes`` (per minute by their state now), delivery
    rates by channel and carrier of those that finished, and the queue as it is now."""
    counts = dashboard(db, now, minutes)
    totals: Counts = {}
    for per_state in counts.per_minute.values():
        _add(totals, per_state)
    by_carrier: dict[str, Counts] = {}
    for prefix, per_state in counts.by_prefix.items():
        _add(by_carrier.setdefault(carrier_of(prefix), {}), per_state)
    by_channel = {channel or "(none)": per_state for channel, per_state in counts.by_channel.items()}
    queue = counts.queue
    return {
        "now": now,
        "minutes": [{"t": m * MINUTE_MS, "counts": c} for m, c in sorted(counts.per_minute.items())],
        "totals": {s: totals.get(s, 0) for s in STATES},
        "accepted": sum(totals.values()),
        "by_channel": [{"name": k, **_rate(v)} for k, v in sorted(by_channel.items())],
        "by_carrier": [{"name": k, **_rate(v)} for k, v in sorted(by_carrier.items())],
        "queue": {
            "QUEUED (due)": queue["due"],
            "QUEUED (held)": queue["held"],
            "SENDING": queue["sending"],
            "SUBMITTED": queue["submitted"],
        },
        "outbox": counts.outbox,
    }
