"""The store's side of delivery: claiming queued messages, recording what the SMSC answered,
applying receipts, and the customer's reports.

Every method is one transaction on the connection it is given, so a dispatcher that dies at any
point leaves the store consistent: a claimed message comes back after its lease, and a part whose
submit_sm_resp was recorded is never submitted again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from smsgate.domain.carrier_ids import Candidate, Verdict, choose, id_key, lookup_keys
from smsgate.store.db import POSTGRESQL, Db, bulk
from smsgate.store.db import transaction as _transaction

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
NO_RECEIPT = "NO_RECEIPT"  # our status_desc for a message whose receipt never came
# A receipt no part is spelt exactly like waits this long for its part (the write of a
# submit_sm_resp can lag the receipt: another bind, another worker) before the id is read in
# the other base, and before it counts as naming no part we know.
RECEIPT_GRACE_MS = 10_000
ORPHAN_KEEP_MS = 7 * 24 * 3_600_000  # and it is kept this long in case its part turns up
_WAITING_LOCK = 0x736D7367_0005  # PostgreSQL: one worker at a time looks at waiting receipts
# When parts disagree the worst one wins (higher is worse).
_SEVERITY = {"DELIVRD": 0, "EXPIRED": 1, "UNKNOWN": 2, "DELETED": 3, "UNDELIV": 4, "REJECTD": 5}


class Receipt(NamedTuple):
    """A delivery receipt as the dispatcher hands it over."""

    channel: str
    carrier_id: str  # the id as the receipt spelt it
    stat: str
    err: str | None
    done_at: int
    id_format: str = "auto"  # the channel's receipt_id_format (domain.carrier_ids)


def _held(owner: str | None) -> tuple[str, tuple[str, ...]]:
    """The condition (and its parameters) for a dispatcher's write: the message is still
    SENDING under ``owner``, since a worker whose lease lapsed must not undo what the next
    owner did; without an owner (tools, tests), any message not yet final."""
    if owner is None:
        return "state IN ('QUEUED','SENDING','SUBMITTED')", ()
    return "state='SENDING' AND owner=?", (owner,)


def queue_depth(db: Db, now: int) -> dict[str, int]:
    """Messages not yet final: queued and due, queued but held (sending window, retry
    backoff), being sent, waiting for their receipt; by index (messages_state, messages_due)."""
    counts = dict(db.execute(
        "SELECT state, count(*) FROM messages WHERE state IN ('QUEUED','SENDING','SUBMITTED')"
        " GROUP BY state").fetchall())
    held = db.execute("SELECT count(*) FROM messages WHERE state='QUEUED' AND next_attempt_at>?",
                      (now,)).fetchone()[0]
    return {"due": counts.get("QUEUED", 0) - held, "held": held,
            "sending": counts.get("SENDING", 0), "submitted": counts.get("SUBMITTED", 0)}


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
    carrier_id: str  # as submit_sm_resp gave it
    at: int


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A receipt credited to no part: ``reason`` is ``ambiguous`` (it names several open
    parts: ``parts``), ``duplicate`` (it repeats a receipt a part already has) or ``unknown``
    (it names no part we know, within the grace; kept a week in case its part turns up)."""

    channel: str
    carrier_id: str
    reason: str
    parts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Waited:
    """What :meth:`DeliveryStore.match_waiting` did: messages that became final, and the
    receipts it gave up on."""

    finals: list[Final]
    unmatched: list[Unmatched]


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
    accepted_at: int


# The report's status filter: 0 sent without a receipt yet, 1 delivered, 2 failed.
_REPORT_STATES = {
    0: ("QUEUED", "SENDING", "SUBMITTED"),
    1: (DELIVERED,),
    2: (FAILED, EXPIRED),
}
_FINAL_COLUMNS = (
    "id, project_id, sign_id, e164, nation_code, state, status_desc, fee_num, extend_code,"
    " submitted_at, done_at, accepted_at"
)
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


_CLAIMED = "id, project_id, sign_id, e164, text, extend_src_id, attempts, accepted_at"


class DeliveryStore:
    def __init__(self, db: Db, grace_ms: int = RECEIPT_GRACE_MS) -> None:
        self.db = db
        self.grace_ms = grace_ms

    def claim(self, now: int, limit: int, lease_ms: int, owner: str = "",
              reclaim_own: bool = True) -> list[Claimed]:
        """Take up to ``limit`` due messages for ``owner``: QUEUED ones whose time has come,
        SENDING ones whose owner's lease ran out (it died), and, with ``reclaim_own``,
        ``owner``'s own SENDING ones (a step that failed half-way, the store being down: the
        caller asks for them only with nothing in hand).  Without ``reclaim_own`` none of
        ``owner``'s own are taken, not even past their lease: they are the batch in hand,
        which is still being sent.  On PostgreSQL, rows another worker is claiming at the same
        moment are skipped, never taken twice."""
        with _transaction(self.db):
            if self.db.dialect == POSTGRESQL:
                rows = self._claim_skip_locked(now, limit, lease_ms, owner, reclaim_own)
            else:
                rows = self.db.execute(
                    f"SELECT {_CLAIMED} FROM messages WHERE state='QUEUED' AND next_attempt_at<=?"
                    f" UNION ALL SELECT {_CLAIMED} FROM messages WHERE state='SENDING'"
                    " AND (owner=? OR (lease_until<? AND owner IS NOT ?)) LIMIT ?",
                    (now, owner if reclaim_own else None, now, owner, limit),
                ).fetchall()
                self.db.executemany(
                    "UPDATE messages SET state='SENDING', lease_until=?, owner=? WHERE id=?",
                    [(now + lease_ms, owner, row[0]) for row in rows],
                )
            if not rows:
                return []
            done = self._done_parts([row[0] for row in rows])
        return [Claimed(*row, frozenset(done.get(row[0], ()))) for row in rows]

    def _claim_skip_locked(self, now: int, limit: int, lease_ms: int, owner: str,
                           reclaim_own: bool) -> list[tuple]:
        rows: list[tuple] = []
        mine = owner if reclaim_own else None  # owner=NULL matches nothing
        lapsed = "state='SENDING' AND (owner=? OR (lease_until<? AND owner IS DISTINCT FROM ?))"
        for due, params in ((lapsed, (mine, now, owner)),
                            ("state='QUEUED' AND next_attempt_at<=?", (now,))):
            if len(rows) >= limit:
                break
            rows += self.db.execute(
                "UPDATE messages SET state='SENDING', lease_until=?, owner=? WHERE seq IN"
                f" (SELECT seq FROM messages WHERE {due} ORDER BY next_attempt_at LIMIT ?"
                f" FOR UPDATE SKIP LOCKED) RETURNING {_CLAIMED}",
                (now + lease_ms, owner, *params, limit - len(rows)),
            ).fetchall()
        return rows

    def renew(self, owner: str, ids: Sequence[str], until: int) -> set[str]:
        """Extend the lease on messages ``owner`` still holds; returns those it still holds (a
        message whose lease had lapsed and was taken over, or that is no longer SENDING, is
        not renewed, and its old owner must not send it)."""
        held: set[str] = set()
        with _transaction(self.db):
            for start in range(0, len(ids), 500):
                chunk = list(ids[start:start + 500])
                marks = ",".join("?" * len(chunk))
                self.db.execute(
                    f"UPDATE messages SET lease_until=? WHERE id IN ({marks}) AND state='SENDING'"
                    " AND owner=?",
                    (until, *chunk, owner),
                )
                held.update(r[0] for r in self.db.execute(
                    f"SELECT id FROM messages WHERE id IN ({marks}) AND state='SENDING' AND owner=?",
                    (*chunk, owner),
                ))
        return held

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

    def hold(self, ids: Iterable[str], until: int, owner: str | None = None) -> None:
        """Back to QUEUED until ``until`` (the sending window is closed, a claim given back):
        not an attempt.  With ``owner``, only messages that owner still holds: a worker whose
        lease lapsed must not undo what the next owner did."""
        held, params = _held(owner)
        with _transaction(self.db):
            self.db.executemany(
                "UPDATE messages SET state='QUEUED', next_attempt_at=?, lease_until=NULL, owner=NULL"
                f" WHERE id=? AND {held}",
                [(until, i, *params) for i in ids],
            )

    def give_back(self, owner: str, at: int) -> int:
        """Every message ``owner`` still holds back to QUEUED, due at ``at``, not an attempt:
        what a stopping worker did not finish goes to another worker now, not once its lease
        has run out.  Only for a worker that sends nothing more and has recorded every answer
        it got.  Returns how many."""
        with _transaction(self.db):
            return self.db.execute(
                "UPDATE messages SET state='QUEUED', next_attempt_at=?, lease_until=NULL, owner=NULL"
                " WHERE state='SENDING' AND owner=?",
                (at, owner),
            ).rowcount

    def retry(self, message_id: str, at: int, reason: str, owner: str | None = None) -> None:
        held, params = _held(owner)
        with _transaction(self.db):
            self.db.execute(
                "UPDATE messages SET state='QUEUED', next_attempt_at=?, lease_until=NULL, owner=NULL,"
                f" attempts=attempts+1, status_desc=? WHERE id=? AND {held}",
                (at, reason, message_id, *params),
            )

    def mark_submitted(self, message_id: str, owner: str | None = None) -> None:
        """A claimed message whose every part had been answered already (by an owner that lost
        its lease before it could say so): SUBMITTED, waiting for its receipts."""
        held, params = _held(owner)
        with _transaction(self.db):
            self.db.execute(
                "UPDATE messages SET state='SUBMITTED', lease_until=NULL, owner=NULL, submitted_at="
                "(SELECT max(submitted_at) FROM message_parts WHERE message_id=?)"
                f" WHERE id=? AND {held}",
                (message_id, message_id, *params),
            )

    def record_parts(self, parts: Sequence[PartSubmitted]) -> list[Final]:
        """What the SMSC answered, part by part; a message whose every part is answered is
        SUBMITTED.  Recorded as soon as the responses arrive, since a part recorded here is
        never submitted again.  Each part keeps its own id, once; receipts that came before it
        and name it exactly (or, ``auto``, in another case or with other zeros, and no other
        open part) are applied now.  Returns the messages that became final."""
        if not parts:
            return []
        by_part = {(p.message_id, p.idx): p for p in parts}  # a part answered twice: the last
        last = {p.message_id: p for p in by_part.values()}  # one update per message
        keys = {part: id_key(p.carrier_id) for part, p in by_part.items()}
        with _transaction(self.db):
            bulk(
                self.db,
                "INSERT INTO message_parts (message_id, idx, total, carrier_id, submitted_at, channel,"
                " id_key) VALUES (?,?,?,?,?,?,?) ON CONFLICT (message_id, idx) DO UPDATE SET"
                " carrier_id=excluded.carrier_id, submitted_at=excluded.submitted_at,"
                " channel=excluded.channel, id_key=excluded.id_key",
                [(p.message_id, p.idx, p.total, p.carrier_id, p.at, p.channel, keys[part])
                 for part, p in by_part.items()],
                postgres="INSERT INTO message_parts (message_id, idx, total, carrier_id, submitted_at,"
                " channel, id_key) SELECT * FROM {rows} ON CONFLICT (message_id, idx) DO UPDATE SET"
                " carrier_id=excluded.carrier_id, submitted_at=excluded.submitted_at,"
                " channel=excluded.channel, id_key=excluded.id_key",
                types=("text", "bigint", "bigint", "text", "bigint", "text", "text"),
            )
            bulk(
                self.db,
                "UPDATE messages SET state='SUBMITTED', submitted_at=?, channel=?, lease_until=NULL,"
                " owner=NULL WHERE id=? AND state='SENDING' AND (SELECT count(*) FROM message_parts"
                " WHERE message_id=? AND carrier_id IS NOT NULL)=?",
                [(p.at, p.channel, p.message_id, p.message_id, p.total) for p in last.values()],
                postgres="UPDATE messages m SET state='SUBMITTED', submitted_at=u.at, channel=u.channel,"
                " lease_until=NULL, owner=NULL FROM {rows} AS u(at, channel, id, id2, total)"
                " WHERE m.id=u.id AND m.state='SENDING' AND (SELECT count(*) FROM message_parts"
                " WHERE message_id=u.id AND carrier_id IS NOT NULL)=u.total",
                types=("bigint", "text", "text", "text", "bigint"),
            )
            return self._adopt({(p.channel, keys[part]) for part, p in by_part.items()})

    def _adopt(self, keys: set[tuple[str, str]]) -> list[Final]:
        """Apply the kept receipts that name a part just recorded (under ``keys``)."""
        by_receipt: dict[int, tuple[tuple, list[Candidate]]] = {}
        for channel, chunk in _chunks(keys):
            for row in self.db.execute(
                "SELECT o.receipt, o.key, o.carrier_id, o.id_format, o.stat, o.err, o.done_at, p.message_id,"
                " p.idx, p.carrier_id, p.submitted_at FROM orphan_receipts o JOIN message_parts p"
                " ON p.channel=o.channel AND p.id_key=o.key AND p.stat IS NULL"
                f" WHERE o.channel=? AND o.key IN ({','.join('?' * len(chunk))}) AND o.key=o.id_key",
                [channel, *chunk],
            ):
                receipt = (channel, *row[2:7])
                by_receipt.setdefault(row[0], (receipt, []))[1].append(
                    Candidate((row[7], row[8]), row[9], row[10] or 0, True))
        marks, done = [], []
        for number, ((channel, carrier_id, id_format, stat, err, done_at), candidates) in by_receipt.items():
            choice = choose(carrier_id, id_format, candidates, final=False)
            if choice.verdict is Verdict.CREDIT:
                marks.append((choice.part, stat, err, done_at))
                done += [(channel, key, number) for key in lookup_keys(carrier_id, id_format)]
        self._forget_orphans(done)
        self._mark_parts(marks)
        return self._settle_all({part[0] for part, *_ in marks})

    def expire_unreceipted(self, submitted_before: int, now: int, limit: int = 1000) -> list[Final]:
        """SUBMITTED messages whose receipt never came (the carrier lost it, or the SMSC never
        sends receipts) become EXPIRED with status ``NO_RECEIPT``: their customers get a final
        answer instead of a message pending for ever."""
        with _transaction(self.db):
            ids = [r[0] for r in self.db.execute(
                "SELECT id FROM messages WHERE state='SUBMITTED' AND submitted_at<? LIMIT ?",
                (submitted_before, limit)).fetchall()]
            self.db.executemany(
                "UPDATE messages SET state=?, status_desc=?, done_at=? WHERE id=? AND state='SUBMITTED'",
                [(EXPIRED, NO_RECEIPT, now, i) for i in ids])
            return self._finals(ids)

    def finish(self, message_id: str, state: str, status_desc: str, at: int,
               owner: str | None = None) -> Final | None:
        """Put a message in a final state without a receipt (refused by the SMSC, expired);
        with ``owner``, only if that owner still holds it."""
        held, params = _held(owner)
        with _transaction(self.db):
            cur = self.db.execute(
                "UPDATE messages SET state=?, status_desc=?, done_at=?, lease_until=NULL, owner=NULL"
                f" WHERE id=? AND {held}",
                (state, status_desc, at, message_id, *params),
            )
            return self._final(message_id) if cur.rowcount else None

    def apply_receipts(self, receipts: Sequence[Receipt], now: int) -> list[Final]:
        """Apply final receipts (ENROUTE and ACCEPTD change nothing); returns the messages that
        became final.  A receipt goes to the newest open part spelt exactly like its id or
        (``auto``) to the one open part spelt otherwise; any other is kept (an orphan) for
        :meth:`record_parts`, since a fast SMSC may answer before our write of the part lands,
        and for :meth:`match_waiting` after the grace.  Batched (one lookup, one update, one
        settle for all), since receipts come by thousands."""
        final = [(r, (r.channel, id_key(r.carrier_id))) for r in receipts if r.stat in FINAL_STATS]
        with _transaction(self.db):
            found = self._open_parts({key for _, key in final})
            marks, orphans = [], []
            for r, key in final:
                candidates = found.get(key, ())
                choice = choose(r.carrier_id, r.id_format, candidates, final=False)
                if choice.verdict is Verdict.CREDIT:
                    marks.append((choice.part, r.stat, r.err, r.done_at))
                else:
                    orphans.append(r)
            self._keep_orphans(orphans, now)
            self._mark_parts(marks)
            return self._settle_all({part[0] for part, *_ in marks})

    def match_waiting(self, now: int, keep_ms: int = ORPHAN_KEEP_MS) -> Waited:
        """Receipts kept past the grace get every reading of their id (see
        :func:`~smsgate.domain.carrier_ids.choose`): credited, or given up as ambiguous,
        duplicate or unknown (an unknown one is still kept for its part until ``keep_ms``).
        On PostgreSQL one worker at a time does it (the others return at once), so that no
        receipt is judged, counted and logged twice."""
        with _transaction(self.db):
            if self.db.dialect == POSTGRESQL and not self.db.execute(
                    "SELECT pg_try_advisory_xact_lock(?)", (_WAITING_LOCK,)).fetchone()[0]:
                return Waited([], [])
            receipts: dict[int, tuple[tuple, dict[tuple[str, int], Candidate]]] = {}
            rows: list[tuple[str, str, int]] = []
            for row in self.db.execute(
                "SELECT o.receipt, o.channel, o.key, o.carrier_id, o.id_format, o.stat, o.err, o.done_at,"
                " p.message_id, p.idx, p.carrier_id, p.submitted_at, p.stat FROM orphan_receipts o"
                " LEFT JOIN message_parts p ON p.channel=o.channel AND p.id_key=o.key"
                " AND (p.stat IS NULL OR o.key=o.id_key) WHERE o.check_at<=?",
                (now,),
            ):
                rows.append((row[1], row[2], row[0]))
                _, candidates = receipts.setdefault(row[0], ((row[1], *row[3:8]), {}))
                if row[8] is not None:
                    candidates[(row[8], row[9])] = Candidate((row[8], row[9]), row[10], row[11] or 0,
                                                             row[12] is None)
            marks, unmatched, forget, unknown = [], [], set(), set()
            for number, ((channel, carrier_id, id_format, stat, err, done_at), candidates) in receipts.items():
                choice = choose(carrier_id, id_format, candidates.values(), final=True)
                if choice.verdict is Verdict.CREDIT:
                    marks.append((choice.part, stat, err, done_at))
                else:
                    unmatched.append(Unmatched(channel, carrier_id, choice.verdict.value, choice.parts))
                (unknown if choice.verdict is Verdict.UNKNOWN else forget).add(number)
            self._forget_orphans([r for r in rows if r[2] in forget])
            bulk(
                self.db,
                "UPDATE orphan_receipts SET check_at=NULL WHERE channel=? AND key=? AND receipt=?",
                [r for r in rows if r[2] in unknown],
                postgres="UPDATE orphan_receipts o SET check_at=NULL FROM {rows} AS u(channel, key, receipt)"
                " WHERE o.channel=u.channel AND o.key=u.key AND o.receipt=u.receipt",
                types=("text", "text", "bigint"),
            )
            self.db.execute("DELETE FROM orphan_receipts WHERE received_at<?", (now - keep_ms,))
            self._mark_parts(marks)
            return Waited(self._settle_all({part[0] for part, *_ in marks}), unmatched)

    def _keep_orphans(self, receipts: Sequence[Receipt], now: int) -> None:
        """Keep receipts that named no part (yet), one row under each of their lookup keys."""
        rows = []
        for r in receipts:
            number = int.from_bytes(os.urandom(6), "big")
            own = id_key(r.carrier_id)
            rows += [(r.channel, key, number, own, r.carrier_id, r.id_format, r.stat, r.err, r.done_at, now,
                      now + self.grace_ms) for key in lookup_keys(r.carrier_id, r.id_format)]
        columns = ("channel, key, receipt, id_key, carrier_id, id_format, stat, err, done_at, received_at,"
                   " check_at")
        bulk(
            self.db,
            f"INSERT INTO orphan_receipts ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            rows,
            postgres=f"INSERT INTO orphan_receipts ({columns}) SELECT * FROM {{rows}} ON CONFLICT DO NOTHING",
            types=("text", "text", "bigint", "text", "text", "text", "text", "text", "bigint", "bigint",
                   "bigint"),
        )

    def _forget_orphans(self, rows: Sequence[tuple[str, str, int]]) -> None:
        """Delete kept receipts by (channel, key, receipt): their primary key."""
        bulk(
            self.db,
            "DELETE FROM orphan_receipts WHERE channel=? AND key=? AND receipt=?",
            rows,
            postgres="DELETE FROM orphan_receipts o USING {rows} AS u(channel, key, receipt)"
            " WHERE o.channel=u.channel AND o.key=u.key AND o.receipt=u.receipt",
            types=("text", "text", "bigint"),
        )

    def _mark_parts(self, marks: Sequence[tuple[tuple[str, int], str, str | None, int]]) -> None:
        # receipt dates have minute precision: never report delivery before submission
        first: dict[tuple[str, int], tuple] = {}
        for part, stat, err, done_at in marks:  # the first final receipt wins
            first.setdefault(part, (stat, err, done_at, done_at, *part))
        bulk(
            self.db,
            "UPDATE message_parts SET stat=?, err=?, done_at=CASE WHEN ?>coalesce(submitted_at, 0)"
            " THEN ? ELSE coalesce(submitted_at, 0) END"
            " WHERE message_id=? AND idx=? AND stat IS NULL",
            list(first.values()),
            postgres="UPDATE message_parts p SET stat=u.stat, err=u.err,"
            " done_at=GREATEST(u.done_at, coalesce(p.submitted_at, 0))"
            " FROM {rows} AS u(stat, err, done_at, done_at2, message_id, idx)"
            " WHERE p.message_id=u.message_id AND p.idx=u.idx AND p.stat IS NULL",
            types=("text", "text", "bigint", "bigint", "text", "bigint"),
        )

    def _open_parts(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], list[Candidate]]:
        """(channel, key) -> the open parts recorded under that key.  Queried as ``channel=?
        AND id_key IN (...) AND stat IS NULL`` per channel: one index range per key."""
        found: dict[tuple[str, str], list[Candidate]] = {}
        for channel, chunk in _chunks(keys):
            for key, message_id, idx, carrier_id, submitted_at in self.db.execute(
                "SELECT id_key, message_id, idx, carrier_id, submitted_at FROM message_parts"
                f" WHERE channel=? AND id_key IN ({','.join('?' * len(chunk))}) AND stat IS NULL",
                [channel, *chunk],
            ):
                found.setdefault((channel, key), []).append(
                    Candidate((message_id, idx), carrier_id, submitted_at or 0, True))
        return found

    def _settle_all(self, message_ids: set[str]) -> list[Final]:
        """DELIVERED when every part is DELIVRD; otherwise the worst part's status wins.
        Messages with a part still out stay SUBMITTED."""
        ids = sorted(message_ids)
        parts: dict[str, list[tuple[str | None, int | None, int]]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for message_id, stat, done_at, total in self.db.execute(
                "SELECT p.message_id, p.stat, p.done_at, p.total FROM message_parts p"
                " JOIN messages m ON m.id=p.message_id AND +m.state='SUBMITTED'"
                f" WHERE p.message_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):  # only SUBMITTED ones: a late duplicate receipt must not report a message twice
                parts.setdefault(message_id, []).append((stat, done_at, total))
        updates = [u for u in (_outcome(m, rows) for m, rows in parts.items()) if u is not None]
        bulk(
            self.db,
            "UPDATE messages SET state=?, status_desc=?, done_at=? WHERE id=? AND state='SUBMITTED'",
            updates,
            postgres="UPDATE messages m SET state=u.state, status_desc=u.status_desc, done_at=u.done_at"
            " FROM {rows} AS u(state, status_desc, done_at, id) WHERE m.id=u.id AND m.state='SUBMITTED'",
            types=("text", "text", "bigint", "text"),
        )
        return self._finals([u[3] for u in updates])

    def _finals(self, message_ids: list[str]) -> list[Final]:
        finals: list[Final] = []
        for start in range(0, len(message_ids), 500):
            chunk = message_ids[start:start + 500]
            rows = self.db.execute(
                f"SELECT {_FINAL_COLUMNS} FROM messages WHERE id IN ({','.join('?' * len(chunk))})"
                " AND +state IN ('DELIVERED','FAILED','EXPIRED')",  # '+': look up by id, not state
                chunk,
            ).fetchall()
            finals += [Final(*row) for row in rows]
        return finals

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
            "INSERT INTO optouts (project_id, e164, sign_id, created_at) VALUES (?,?,?,?)"
            " ON CONFLICT DO NOTHING",
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
        finals = self._finals([message_id])
        return finals[0] if finals else None


def _outcome(message_id: str, rows: list[tuple[str | None, int | None, int]]) -> tuple | None:
    """(state, status_desc, done_at, message_id) once every part has its receipt, else None."""
    if len(rows) < rows[0][2] or any(stat is None for stat, _, _ in rows):
        return None
    worst = max((stat or "UNKNOWN" for stat, _, _ in rows), key=lambda s: _SEVERITY.get(s, 2))
    done_at = max(at or 0 for _, at, _ in rows)
    return FINAL_STATS[worst], worst, done_at, message_id


def _chunks(keys: Iterable[tuple[str, str]], size: int = 500) -> Iterable[tuple[str, list[str]]]:
    """(channel, up to ``size`` of its keys) for a set of (channel, key)."""
    by_channel: dict[str, list[str]] = {}
    for channel, key in keys:
        if key:
            by_channel.setdefault(channel, []).append(key)
    for channel, channel_keys in by_channel.items():
        for start in range(0, len(channel_keys), size):
            yield channel, channel_keys[start:start + size]
