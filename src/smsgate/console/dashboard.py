"""``/console/api/dashboard``: the store's counts (``store.reports``) shaped for the charts,
delivery rates by channel and by mainland carrier, and the refusals since the server started."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from smsgate.domain.states import MessageState
from smsgate.api.responses import JsonResponse
from smsgate.api.state import AppState
from smsgate.console.messages import carrier_of
from smsgate.console.requests import int_param, operator_only, state_of
from smsgate.domain.records import now_ms
from smsgate.store import reports
from smsgate.store.db import Db
from smsgate.store.history import MINUTE_MS, STATES
from smsgate.store.reports import Counts


def _rate(counts: Counts) -> dict:
    delivered = counts.get(MessageState.DELIVERED, 0)
    failed = counts.get(MessageState.FAILED, 0) + counts.get(MessageState.EXPIRED, 0)
    total = delivered + failed
    return {"delivered": delivered, "failed": failed, "rate": delivered / total if total else None}


def _add(into: Counts, counts: Counts) -> None:
    for state, n in counts.items():
        into[state] = into.get(state, 0) + n


def summary(db: Db, now: int, minutes: int = 60) -> dict:
    """Messages accepted in the last ``minutes`` (per minute by their state now), delivery
    rates by channel and carrier of those that finished, and the queue as it is now."""
    counts = reports.dashboard(db, now, minutes)
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


def _refusals(state: AppState) -> tuple[int, dict[str, int]]:
    """Items accepted and refused (by code) since the server started: the metrics' counters."""
    accepted, refused = 0, {}
    for family in (*state.metrics.accepted.collect(), *state.metrics.refused.collect()):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            if "code" in sample.labels:
                refused[sample.labels["code"]] = int(sample.value)
            else:
                accepted = int(sample.value)
    return accepted, dict(sorted(refused.items(), key=lambda kv: -kv[1]))


@operator_only
async def dashboard(request: Request) -> Response:
    state = state_of(request)
    minutes = int_param(request, "minutes", 60, 5, 24 * 60)
    data = summary(state.reader.db, now_ms(), minutes)
    accepted, refused = _refusals(state)
    data["since_start"] = {"accepted": accepted, "refused": refused}
    return JsonResponse(data)
