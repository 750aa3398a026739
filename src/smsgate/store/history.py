"""Messages as operators look them up: a search over every project, and all the store knows of
one message (its parts, callbacks, replies, opt-out).  The console and ``smsgate status`` read
them; how they are shown is theirs.

Time ranges over ``messages`` are also bounded on ``id``: a message id begins with its
acceptance time in 12 hex digits (``records.new_message_id``), so ``id >= <hex of t>`` is a range
on the id's unique index; there is no index on ``accepted_at`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.domain.states import MessageState
from smsgate.store.db import Db

STATES = tuple(MessageState)
MINUTE_MS = 60_000
# an id's time is taken when the batch is screened, a little before accepted_at is stamped
_ID_SLACK_MS = 5 * MINUTE_MS


def id_floor(ms: int) -> str:
    """The smallest message id that can have been accepted at or after ``ms``."""
    return f"{max(ms - _ID_SLACK_MS, 0) & 0xFFFFFFFFFFFF:012x}"


def id_ceiling(ms: int) -> str:
    """Every message id accepted before ``ms`` sorts below this."""
    return f"{(ms + _ID_SLACK_MS) & 0xFFFFFFFFFFFF:012x}"


def dicts(cur) -> list[dict]:
    """A cursor's rows as dicts keyed by column name."""
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


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
    rows = dicts(db.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages m LEFT JOIN projects p ON p.id=m.project_id"
        f" LEFT JOIN signs s ON s.id=m.sign_id {clause} ORDER BY m.seq DESC LIMIT ? OFFSET ?",
        [*params, f.limit + 1, f.offset],
    ))
    return rows[: f.limit], len(rows) > f.limit


def message_parts(db: Db, message_id: str) -> list[dict]:
    """Each part of a message: its carrier id, receipt and times, in order."""
    return dicts(db.execute(
        "SELECT idx, total, carrier_id, stat, err, submitted_at, done_at FROM message_parts"
        " WHERE message_id=? ORDER BY idx",
        (message_id,),
    ))


def message_history(db: Db, message_id: str) -> dict | None:
    """Everything known of one message: the message (with its project's and signature's
    names), its parts, the callbacks queued for it, the replies from its number since, and
    when the number opted out of its signature (None: it did not)."""
    found = dicts(db.execute(
        f"SELECT {_MESSAGE_COLUMNS}, m.request_id, m.nation_code, m.text, m.extend_code,"
        " m.extend_src_id, m.lease_until FROM messages m LEFT JOIN projects p ON p.id=m.project_id"
        " LEFT JOIN signs s ON s.id=m.sign_id WHERE m.id=?",
        (message_id,),
    ))
    if not found:
        return None
    message = found[0]
    callbacks = dicts(db.execute(
        "SELECT id, url, state, attempts, next_attempt_at, last_error, created_at, body"
        " FROM outbox WHERE message_id=? ORDER BY id",
        (message_id,),
    ))
    for callback in callbacks:
        body = callback.pop("body")
        callback["body"] = bytes(body).decode("utf-8", "replace") if body is not None else ""
    replies = dicts(db.execute(
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
        "parts": message_parts(db, message_id),
        "callbacks": callbacks,
        "replies": replies,
        "opted_out_at": opted[0] if opted else None,
    }
