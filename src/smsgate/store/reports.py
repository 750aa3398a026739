"""Counts of messages for the people who run the service: the console's dashboard and
``smsgate report``.  Portable SQL; times are epoch milliseconds, bucketed with integer
arithmetic (``accepted_at / 60000``), and ranges are bounded on ``id`` too (see ``history``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smsgate.domain.states import FINAL
from smsgate.store.db import Db
from smsgate.store.claims import queue_depth
from smsgate.store.history import MINUTE_MS, id_floor
from smsgate.store.outbox import outbox_depth

#: state -> messages
Counts = dict[str, int]


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


@dataclass(frozen=True, slots=True)
class DashboardCounts:
    """Messages accepted in the last minutes, and the queue as it is now."""

    first_minute: int  # minutes since the epoch
    #: minute -> counts of the messages accepted in it, by their state now
    per_minute: dict[int, Counts]
    #: channel (None: never sent) -> counts of those that are final
    by_channel: dict[str | None, Counts]
    #: first six characters of the number (``+86138``) -> counts of those that are final
    by_prefix: dict[str, Counts]
    queue: dict[str, int]  # store.delivery.queue_depth
    outbox: dict[str, int]  # store.outbox.outbox_depth


def dashboard(db: Db, now: int, minutes: int = 60) -> DashboardCounts:
    """Messages accepted in the last ``minutes`` (per minute, by their state now), the final
    ones by channel and by number prefix, and the queue and callback outbox now."""
    first = now // MINUTE_MS - minutes + 1
    start = first * MINUTE_MS
    window = "m.id>=? AND m.accepted_at>=?"
    bounds = (id_floor(start), start)
    per_minute: dict[int, Counts] = {first + i: {} for i in range(minutes)}
    for minute, state, n in db.execute(
        f"SELECT m.accepted_at / {MINUTE_MS}, m.state, count(*) FROM messages m WHERE {window}"
        f" GROUP BY m.accepted_at / {MINUTE_MS}, m.state",
        bounds,
    ):
        if int(minute) in per_minute:  # not a clock that ran ahead
            per_minute[int(minute)][state] = n
    by_channel: dict[str | None, Counts] = {}
    for channel, state, n in db.execute(
        f"SELECT m.channel, m.state, count(*) FROM messages m WHERE {window}"
        f" AND m.state IN ({_marks(FINAL)}) GROUP BY m.channel, m.state",
        (*bounds, *FINAL),
    ):
        by_channel.setdefault(channel, {})[state] = n
    by_prefix: dict[str, Counts] = {}
    for prefix, state, n in db.execute(
        f"SELECT substr(m.e164, 1, 6), m.state, count(*) FROM messages m WHERE {window}"
        f" AND m.state IN ({_marks(FINAL)}) GROUP BY substr(m.e164, 1, 6), m.state",
        (*bounds, *FINAL),
    ):
        by_prefix.setdefault(prefix, {})[state] = n
    return DashboardCounts(first, per_minute, by_channel, by_prefix, queue_depth(db, now),
                           outbox_depth(db))


#: the columns of a message in ``smsgate report``'s list
REPORT_COLUMNS = ("id", "project_id", "e164", "state", "status_desc", "fee_num", "accepted_at",
                  "submitted_at", "done_at")


def recent(db: Db, start: int, project_id: str | None, limit: int) -> tuple[Counts, list[tuple]]:
    """Messages accepted since ``start`` (of one project, or all): counts by state, and the
    latest ``limit`` of them (:data:`REPORT_COLUMNS`), newest first."""
    where, params = "accepted_at>=?", [start]
    if project_id:
        where, params = where + " AND project_id=?", [start, project_id]
    counts = dict(db.execute(
        f"SELECT state, count(*) FROM messages WHERE {where} GROUP BY state ORDER BY state", params
    ).fetchall())
    rows = db.execute(
        f"SELECT {', '.join(REPORT_COLUMNS)} FROM messages WHERE {where} ORDER BY seq DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return counts, [tuple(r) for r in rows]
