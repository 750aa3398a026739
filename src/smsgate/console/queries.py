"""The console's read SQL: projects, keys, opt-outs, message search and history, dashboard.

Portable SQL only (``?`` placeholders; no ``strftime``, no ``INSERT OR …``, no scalar ``max``):
the same functions will run on PostgreSQL through a translating wrapper.  Times are epoch
milliseconds and are bucketed with integer arithmetic (``accepted_at / 60000``).

Time ranges over ``messages`` are also bounded on ``id``: a message id begins with its
acceptance time in 12 hex digits (``records.new_message_id``), so ``id >= <hex of t>`` is a range
on the id's unique index; there is no index on ``accepted_at`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smsgate.dispatch.router import CARRIER_PREFIXES
from smsgate.domain.records import SignStatus
from smsgate.store.db import Db
from smsgate.store.delivery import queue_depth
from smsgate.store.outbox import outbox_depth

STATES = ("QUEUED", "SENDING", "SUBMITTED", "DELIVERED", "FAILED", "EXPIRED")
FINAL = ("DELIVERED", "FAILED", "EXPIRED")
MINUTE_MS = 60_000
# an id's time is taken when the batch is screened, a little before accepted_at is stamped
_ID_SLACK_MS = 5 * MINUTE_MS
_CARRIER_OF = {f"+86{p}": name for name, prefixes in CARRIER_PREFIXES.items() for p in prefixes}


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def id_floor(ms: int) -> str:
    """The smallest message id that can have been accepted at or after ``ms``."""
    return f"{max(ms - _ID_SLACK_MS, 0) & 0xFFFFFFFFFFFF:012x}"


def id_ceiling(ms: int) -> str:
    """Every message id accepted before ``ms`` sorts below this."""
    return f"{(ms + _ID_SLACK_MS) & 0xFFFFFFFFFFFF:012x}"


def _dicts(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def carrier_of(e164: str) -> str:
    """cn-mobile / cn-unicom / cn-telecom (the router's prefix groups), cn-other, or
    international."""
    if not e164.startswith("+86"):
        return "international"
    return _CARRIER_OF.get(e164[:6], "cn-other")


# --- projects --------------------------------------------------------------------------------


def projects(db: Db) -> list[dict]:
    rows = _dicts(db.execute(
        "SELECT id, name, enterprise, grants, daily_cap, send_window, created_at"
        " FROM projects ORDER BY created_at, id"
    ))
    signs = dict(db.execute(
        "SELECT project_id, count(*) FROM signs WHERE status<>? GROUP BY project_id",
        (int(SignStatus.DELETED),),
    ).fetchall())
    keys = dict(db.execute(
        "SELECT project_id, count(*) FROM access_keys WHERE revoked_at IS NULL GROUP BY project_id"
    ).fetchall())
    for row in rows:
        row["enterprise"] = bool(row["enterprise"])
        row["grants"] = [g for g in row["grants"].split(",") if g]
        row["signs"] = signs.get(row["id"], 0)
        row["keys"] = keys.get(row["id"], 0)
    return rows


def access_keys(db: Db, project_id: str) -> list[dict]:
    return _dicts(db.execute(
        "SELECT access_key, created_at, revoked_at FROM access_keys WHERE project_id=?"
        " ORDER BY created_at, access_key",
        (project_id,),
    ))


def key_project(db: Db, access_key: str) -> str | None:
    row = db.execute("SELECT project_id FROM access_keys WHERE access_key=?", (access_key,)).fetchone()
    return row[0] if row else None


def optouts(db: Db, project_id: str, sign_id: str | None, e164: str | None,
            limit: int, offset: int) -> tuple[int, list[dict]]:
    where, params = ["o.project_id=?"], [project_id]
    if sign_id:
        where.append("o.sign_id=?")
        params.append(sign_id)
    if e164:
        where.append("o.e164=?")
        params.append(e164)
    clause = " AND ".join(where)
    count = db.execute(f"SELECT count(*) FROM optouts o WHERE {clause}", params).fetchone()[0]
    rows = _dicts(db.execute(
        "SELECT o.e164, o.sign_id, s.name AS sign_name, o.created_at FROM optouts o"
        f" LEFT JOIN signs s ON s.id=o.sign_id WHERE {clause}"
        " ORDER BY o.created_at DESC, o.e164 LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ))
    return count, rows


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageFilter:
    project_id: str | None = None
    e164: str | None = None
    message_id: str | None = None
    sign_id: str | None = None
    sign_name: str | None = None
    state: str | None = None
    start: int | None = None  # accepted_at >= start
    end: int | None = None  # accepted_at < end
    limit: int = 50
    offset: int = 0


_MESSAGE_COLUMNS = (
    "m.id, m.project_id, p.name AS project_name, m.sign_id, s.name AS sign_name, m.e164,"
    " m.state, m.status_desc, m.fee_num, m.attempts, m.channel, m.accepted_at,"
    " m.next_attempt_at, m.submitted_at, m.done_at"
)


def search_messages(db: Db, f: MessageFilter) -> tuple[list[dict], bool]:
    """The page of messages matching ``f``, newest first, and whether more follow."""
    where: list[str] = []
    params: list[object] = []
    for column, value in (("m.project_id", f.project_id), ("m.e164", f.e164),
                          ("m.id", f.message_id), ("m.sign_id", f.sign_id),
                          ("s.name", f.sign_name), ("m.state", f.state)):
        if value is not None:
            where.append(f"{column}=?")
            params.append(value)
    if f.start is not None:
        where += ["m.id>=?", "m.accepted_at>=?"]
        params += [id_floor(f.start), f.start]
    if f.end is not None:
        where += ["m.id<?", "m.accepted_at<?"]
        params += [id_ceiling(f.end), f.end]
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = _dicts(db.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages m LEFT JOIN projects p ON p.id=m.project_id"
        f" LEFT JOIN signs s ON s.id=m.sign_id {clause} ORDER BY m.seq DESC LIMIT ? OFFSET ?",
        [*params, f.limit + 1, f.offset],
    ))
    return rows[: f.limit], len(rows) > f.limit


def message_history(db: Db, message_id: str, now: int) -> dict | None:
    """Everything known of one message, and its story as a time-ordered list of events."""
    found = _dicts(db.execute(
        f"SELECT {_MESSAGE_COLUMNS}, m.request_id, m.nation_code, m.text, m.extend_code,"
        " m.extend_src_id, m.lease_until FROM messages m LEFT JOIN projects p ON p.id=m.project_id"
        " LEFT JOIN signs s ON s.id=m.sign_id WHERE m.id=?",
        (message_id,),
    ))
    if not found:
        return None
    message = found[0]
    parts = _dicts(db.execute(
        "SELECT idx, total, carrier_id, stat, err, submitted_at, done_at FROM message_parts"
        " WHERE message_id=? ORDER BY idx",
        (message_id,),
    ))
    callbacks = _dicts(db.execute(
        "SELECT id, url, state, attempts, next_attempt_at, last_error, created_at, body"
        " FROM outbox WHERE message_id=? ORDER BY id",
        (message_id,),
    ))
    for callback in callbacks:
        body = callback.pop("body")
        callback["body"] = bytes(body).decode("utf-8", "replace") if body is not None else ""
    replies = _dicts(db.execute(
        "SELECT text, received_at FROM replies WHERE e164=? AND project_id=? AND sign_id=?"
        " AND received_at>=? ORDER BY id LIMIT 20",
        (message["e164"], message["project_id"], message["sign_id"], message["accepted_at"]),
    ))
    opted = db.execute(
        "SELECT created_at FROM optouts WHERE project_id=? AND e164=? AND sign_id=?",
        (message["project_id"], message["e164"], message["sign_id"]),
    ).fetchone()
    return {
        "message": message,
        "carrier": carrier_of(message["e164"]),
        "parts": parts,
        "callbacks": callbacks,
        "replies": replies,
        "opted_out_at": opted[0] if opted else None,
        "events": _events(message, parts, callbacks, replies, now),
    }


def _events(message: dict, parts: list[dict], callbacks: list[dict], replies: list[dict],
            now: int) -> list[dict]:
    events = [{"at": message["accepted_at"], "kind": "accepted",
               "detail": f"request {message['request_id']}"}]
    state, attempts = message["state"], message["attempts"]
    if state == "QUEUED" and message["next_attempt_at"] > now:
        if attempts:
            events.append({"at": message["next_attempt_at"], "kind": "retry scheduled",
                           "detail": f"after {attempts} attempt(s): {message['status_desc'] or ''}"})
        else:
            events.append({"at": message["next_attempt_at"], "kind": "held",
                           "detail": "outside the sending window until then"})
    elif attempts:
        events.append({"at": None, "kind": "retried",
                       "detail": f"{attempts} earlier attempt(s) failed for a passing reason"})
    if state == "SENDING":
        events.append({"at": message["lease_until"], "kind": "sending",
                       "detail": "claimed by a dispatcher (lease until then)"})
    for part in parts:
        if part["submitted_at"] is not None:
            events.append({"at": part["submitted_at"], "kind": "part submitted",
                           "detail": f"part {part['idx']}/{part['total']} on {message['channel'] or '?'},"
                                     f" carrier id {part['carrier_id']}"})
        if part["stat"] is not None:
            events.append({"at": part["done_at"], "kind": "receipt",
                           "detail": f"part {part['idx']}/{part['total']}: {part['stat']}"
                                     + (f" (err {part['err']})" if part["err"] else "")})
    if state in FINAL:
        events.append({"at": message["done_at"], "kind": state.lower(),
                       "detail": message["status_desc"] or ""})
    for callback in callbacks:
        detail = f"{callback['state']} after {callback['attempts']} attempt(s) to {callback['url']}"
        if callback["last_error"]:
            detail += f"; last error: {callback['last_error']}"
        events.append({"at": callback["created_at"], "kind": "callback", "detail": detail})
    for reply in replies:
        events.append({"at": reply["received_at"], "kind": "reply", "detail": reply["text"]})
    dated = sorted((e for e in events if e["at"] is not None), key=lambda e: e["at"])
    return dated + [e for e in events if e["at"] is None]


# --- the dashboard ---------------------------------------------------------------------------


def _rate(counts: dict[str, int]) -> dict:
    delivered = counts.get("DELIVERED", 0)
    failed = counts.get("FAILED", 0) + counts.get("EXPIRED", 0)
    total = delivered + failed
    return {"delivered": delivered, "failed": failed, "rate": delivered / total if total else None}


def dashboard(db: Db, now: int, minutes: int = 60) -> dict:
    """Messages accepted in the last ``minutes`` (per minute by their state now), delivery
    rates by channel and carrier of those that finished, and the queue as it is now."""
    first = now // MINUTE_MS - minutes + 1
    start = first * MINUTE_MS
    window = "m.id>=? AND m.accepted_at>=?"
    bounds = (id_floor(start), start)
    per_minute: dict[int, dict[str, int]] = {first + i: {} for i in range(minutes)}
    totals: dict[str, int] = {}
    for minute, state, n in db.execute(
        f"SELECT m.accepted_at / {MINUTE_MS}, m.state, count(*) FROM messages m WHERE {window}"
        f" GROUP BY m.accepted_at / {MINUTE_MS}, m.state",
        bounds,
    ):
        if int(minute) in per_minute:  # not a clock that ran ahead
            per_minute[int(minute)][state] = n
            totals[state] = totals.get(state, 0) + n
    by_channel: dict[str, dict[str, int]] = {}
    for channel, state, n in db.execute(
        f"SELECT m.channel, m.state, count(*) FROM messages m WHERE {window}"
        f" AND m.state IN ({_marks(FINAL)}) GROUP BY m.channel, m.state",
        (*bounds, *FINAL),
    ):
        by_channel.setdefault(channel or "(none)", {})[state] = n
    by_carrier: dict[str, dict[str, int]] = {}
    for prefix, state, n in db.execute(
        f"SELECT substr(m.e164, 1, 6), m.state, count(*) FROM messages m WHERE {window}"
        f" AND m.state IN ({_marks(FINAL)}) GROUP BY substr(m.e164, 1, 6), m.state",
        (*bounds, *FINAL),
    ):
        counts = by_carrier.setdefault(carrier_of(prefix), {})
        counts[state] = counts.get(state, 0) + n
    queue = queue_depth(db, now)
    return {
        "now": now,
        "minutes": [{"t": m * MINUTE_MS, "counts": c} for m, c in sorted(per_minute.items())],
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
        "outbox": outbox_depth(db),
    }
