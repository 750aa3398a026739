"""The store's side of delivery: claiming queued messages, recording what the SMSC answered,
applying receipts, and the customer's reports.

Every method is one transaction on the connection it is given, so a dispatcher that dies at any
point leaves the store consistent: a claimed message comes back after its lease, and a part whose
submit_sm_resp was recorded is never submitted again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smsgate.store.sqlite import transaction as _transaction

# Final states and how a receipt's stat word maps onto them (SPEC §4 delivery status words).
DELIVERED, FAILED, EXPIRED = "DELIVERED", "FAILED", "EXPIRED"
FINAL_STATS = {
    "DELIVRD": DELIVERED,
    "EXPIRED": EXPIRED,
    "DELETED": FAILED,
    "UNDELIV": FAILED,
    "REJECTD": FAILED,
    "UNKNOWN": FAILED,
}
# When parts disagree the worst one wins (higher is worse).
_SEVERITY = {"DELIVRD": 0, "EXPIRED": 1, "UNKNOWN": 2, "DELETED": 3, "UNDELIV": 4, "REJECTD": 5}


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a dispatcher now owns until its lease ends."""

    id: str
    project_id: str
    sign_id: str
    e164: str
    text: str
    extend_src_id: str | None
    attempts: int
    accepted_at: int
    done_parts: frozenset[int]  # parts whose submit_sm_resp was recorded by an earlier owner


@dataclass(frozen=True, slots=True)
class PartSubmitted:
    message_id: str
    idx: int
    total: int
    channel: str
    carrier_id: str
    keys: tuple[str, ...]
    at: int


@dataclass(frozen=True, slots=True)
class Final:
    """A message that reached a final state: what a status callback reports."""

    message_id: str
    project_id: str
    sign_id: str
    e164: str
    nation_code: str
    state: str
    status_desc: str
    fee_num: int
    extend_code: str | None
    submitted_at: int | None
    done_at: int


# The report's status filter: 0 sent without a receipt yet, 1 delivered, 2 failed.
_REPORT_STATES = {
    0: ("QUEUED", "SENDING", "SUBMITTED"),
    1: (DELIVERED,),
    2: (FAILED, EXPIRED),
}
_REPORT_COLUMNS = (
    "id, state, sign_id, status_desc, fee_num, extend_code, nation_code, e164, submitted_at,"
    " done_at, accepted_at"
)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    start: int
    end: int
    sign_id: str | None = None
    message_id: str | None = None
    e164: str | None = None
    status: int | None = None
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ReportRow:
    message_id: str
    state: str
    sign_id: str
    status_desc: str | None
    fee_num: int
    extend_code: str | None
    nation_code: str
    e164: str
    submitted_at: int | None
    done_at: int | None
    accepted_at: int

    @property
    def status(self) -> int:
        return next(code for code, states in _REPORT_STATES.items() if self.state in states)


class DeliveryStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def claim(self, now: int, limit: int, lease_ms: int) -> list[Claimed]:
        """Take up to ``limit`` due messages: QUEUED ones whose time has come, and SENDING ones
        whose owner's lease ran out (it died)."""
        with _transaction(self.db):
            rows = self.db.execute(
                "SELECT id, project_id, sign_id, e164, text, extend_src_id, attempts, accepted_at"
                " FROM messages WHERE state='QUEUED' AND next_attempt_at<=?"
                " UNION ALL SELECT id, project_id, sign_id, e164, text, extend_src_id, attempts,"
                " accepted_at FROM messages WHERE state='SENDING' AND lease_until<?"
                " LIMIT ?",
                (now, now, limit),
            ).fetchall()
            if not rows:
                return []
            ids = [row[0] for row in rows]
            self.db.executemany(
                "UPDATE messages SET state='SENDING', lease_until=? WHERE id=?",
                [(now + lease_ms, i) for i in ids],
            )
            done = self._done_parts(ids)
        return [Claimed(*row, frozenset(done.get(row[0], ()))) for row in rows]

    def _done_parts(self, ids: list[str]) -> dict[str, set[int]]:
        marks = ",".join("?" * len(ids))
        done: dict[str, set[int]] = {}
        for message_id, idx in self.db.execute(
            f"SELECT message_id, idx FROM message_parts WHERE carrier_id IS NOT NULL"
            f" AND message_id IN ({marks})",
            ids,
        ):
            done.setdefault(message_id, set()).add(idx)
        return done

    def hold(self, ids: Iterable[str], until: int) -> None:
        """Back to QUEUED until ``until`` (the sending window is closed): not an attempt."""
        with _transaction(self.db):
            self.db.executemany(
                "UPDATE messages SET state='QUEUED', next_attempt_at=?, lease_until=NULL WHERE id=?",
                [(until, i) for i in ids],
            )

    def retry(self, message_id: str, at: int, reason: str) -> None:
        with _transaction(self.db):
            self.db.execute(
                "UPDATE messages SET state='QUEUED', next_attempt_at=?, lease_until=NULL,"
                " attempts=attempts+1, status_desc=? WHERE id=? AND state='SENDING'",
                (at, reason, message_id),
            )

    def record_parts(self, parts: Sequence[PartSubmitted]) -> None:
        """What the SMSC answered, part by part; a message whose every part is answered is
        SUBMITTED.  Recorded as soon as the responses arrive, since a part recorded here is
        never submitted again."""
        if not parts:
            return
        with _transaction(self.db):
            self.db.executemany(
                "INSERT INTO message_parts (message_id, idx, total, carrier_id, submitted_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (message_id, idx) DO UPDATE SET"
                " carrier_id=excluded.carrier_id, submitted_at=excluded.submitted_at",
                [(p.message_id, p.idx, p.total, p.carrier_id, p.at) for p in parts],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO carrier_ids (channel, key, message_id, idx) VALUES (?,?,?,?)",
                [(p.channel, k, p.message_id, p.idx) for p in parts for k in p.keys],
            )
            last = {p.message_id: p for p in parts}  # one update per message
            self.db.executemany(
                "UPDATE messages SET state='SUBMITTED', submitted_at=?, channel=?, lease_until=NULL"
                " WHERE id=? AND state='SENDING' AND (SELECT count(*) FROM message_parts"
                " WHERE message_id=? AND carrier_id IS NOT NULL)=?",
                [(p.at, p.channel, p.message_id, p.message_id, p.total) for p in last.values()],
            )

    def finish(self, message_id: str, state: str, status_desc: str, at: int) -> Final | None:
        """Put a message in a final state without a receipt (refused by the SMSC, expired)."""
        with _transaction(self.db):
            self.db.execute(
                "UPDATE messages SET state=?, status_desc=?, done_at=?, lease_until=NULL"
                " WHERE id=? AND state IN ('QUEUED','SENDING','SUBMITTED')",
                (state, status_desc, at, message_id),
            )
            return self._final(message_id)

    def apply_receipts(self, receipts: Sequence[tuple[str, tuple[str, ...], str, str | None, int]]) -> list[Final]:
        """Receipts as (channel, id keys, stat, err, done_at).  Returns the messages that became
        final.  A receipt for an unknown id is dropped (counted by the caller)."""
        touched: set[str] = set()
        with _transaction(self.db):
            for channel, keys, stat, err, done_at in receipts:
                part = self._part_for(channel, keys)
                if part is None or stat not in FINAL_STATS:
                    continue
                # receipt dates have minute precision: never report delivery before submission
                self.db.execute(
                    "UPDATE message_parts SET stat=?, err=?, done_at=max(?, coalesce(submitted_at, 0))"
                    " WHERE message_id=? AND idx=?",
                    (stat, err, done_at, *part),
                )
                touched.add(part[0])
            finals = [f for f in (self._settle(m) for m in sorted(touched)) if f is not None]
        return finals

    def _part_for(self, channel: str, keys: tuple[str, ...]) -> tuple[str, int] | None:
        for key in keys:
            row = self.db.execute(
                "SELECT message_id, idx FROM carrier_ids WHERE channel=? AND key=?", (channel, key)
            ).fetchone()
            if row is not None:
                return row[0], row[1]
        return None

    def _settle(self, message_id: str) -> Final | None:
        """DELIVERED when every part is DELIVRD; otherwise the worst part's status wins."""
        rows = self.db.execute(
            "SELECT stat, done_at, total FROM message_parts WHERE message_id=?", (message_id,)
        ).fetchall()
        if not rows or len(rows) < rows[0][2] or any(stat is None for stat, _, _ in rows):
            return None
        worst = max((stat for stat, _, _ in rows), key=lambda s: _SEVERITY.get(s, 2))
        done_at = max(at for _, at, _ in rows)
        changed = self.db.execute(
            "UPDATE messages SET state=?, status_desc=?, done_at=? WHERE id=? AND state='SUBMITTED'",
            (FINAL_STATS[worst], worst, done_at, message_id),
        ).rowcount
        return self._final(message_id) if changed else None

    def record_reply(self, e164: str, text: str, at: int) -> tuple[str, str, str] | None:
        """Keep a mobile-originated reply; it answers the latest message sent to that number.
        Returns (project_id, sign_id, nation_code) of that message, or None if there is none."""
        row = self.db.execute(
            "SELECT project_id, sign_id, nation_code FROM messages WHERE e164=?"
            " AND state IN ('SUBMITTED','DELIVERED','FAILED') ORDER BY seq DESC LIMIT 1",
            (e164,),
        ).fetchone()
        with _transaction(self.db):
            self.db.execute(
                "INSERT INTO replies (project_id, sign_id, e164, text, received_at) VALUES (?,?,?,?,?)",
                (row[0] if row else None, row[1] if row else None, e164, text, at),
            )
        return (row[0], row[1], row[2]) if row else None

    def opt_out(self, project_id: str, sign_id: str, e164: str, at: int) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO optouts (project_id, e164, sign_id, created_at) VALUES (?,?,?,?)",
            (project_id, e164, sign_id, at),
        )

    def report(self, project_id: str, query: ReportQuery) -> tuple[int, list[ReportRow]]:
        """(how many match, the page asked for), newest first."""
        where, params = ["project_id=?", "accepted_at>=?", "accepted_at<?"], [project_id, query.start, query.end]
        for column, value in (("sign_id", query.sign_id), ("id", query.message_id), ("e164", query.e164)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if query.status is not None:
            states = _REPORT_STATES[query.status]
            where.append(f"state IN ({','.join('?' * len(states))})")
            params += states
        clause = " AND ".join(where)
        count = self.db.execute(f"SELECT count(*) FROM messages WHERE {clause}", params).fetchone()[0]
        rows = self.db.execute(
            f"SELECT {_REPORT_COLUMNS} FROM messages WHERE {clause}"
            " ORDER BY accepted_at DESC, seq DESC LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        ).fetchall()
        return count, [ReportRow(*row) for row in rows]

    def report_row(self, project_id: str, message_id: str) -> ReportRow | None:
        row = self.db.execute(
            f"SELECT {_REPORT_COLUMNS} FROM messages WHERE id=? AND project_id=?",
            (message_id, project_id),
        ).fetchone()
        return ReportRow(*row) if row else None

    def _final(self, message_id: str) -> Final | None:
        row = self.db.execute(
            "SELECT id, project_id, sign_id, e164, nation_code, state, status_desc, fee_num,"
            " extend_code, submitted_at, done_at FROM messages WHERE id=?",
            (message_id,),
        ).fetchone()
        return Final(*row) if row and row[5] in (DELIVERED, FAILED, EXPIRED) else None
