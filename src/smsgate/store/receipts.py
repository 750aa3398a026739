"""The store's side of what the SMSC answers: parts recorded with their carrier ids, receipts
credited to them (or kept until their part turns up), messages settled and their final states
reported.

Every method is one transaction: a receipt is applied, and the message it settles reported,
exactly once, crash or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from smsgate.domain.carrier_ids import Candidate, Verdict, choose, id_key, lookup_keys
from smsgate.domain.states import FINAL_STATS, NO_RECEIPT, MessageState, settle
from smsgate.store.claims import held_by
from smsgate.store.db import POSTGRESQL, Db, bulk
from smsgate.store.db import transaction as _transaction
from smsgate.store.orphans import ORPHAN_KEEP_MS, Orphans, Unmatched, Waited

__all__ = ["ORPHAN_KEEP_MS", "RECEIPT_GRACE_MS", "Final", "PartSubmitted", "Receipt", "Receipts",
           "Unmatched", "Waited"]

# A receipt no part is spelt exactly like waits this long for its part (the write of a
# submit_sm_resp can lag the receipt: another bind, another worker) before the id is read in
# the other base, and before it counts as naming no part we know.
RECEIPT_GRACE_MS = 10_000


class Receipt(NamedTuple):
    """A delivery receipt as the dispatcher hands it over."""

    channel: str
    carrier_id: str  # the id as the receipt spelt it
    stat: str
    err: str | None
    done_at: int
    id_format: str = "auto"  # the channel's receipt_id_format (domain.carrier_ids)


class PartSubmitted(NamedTuple):  # a tuple: built per part, 3x faster than a frozen dataclass
    message_id: str
    idx: int
    total: int
    channel: str
    carrier_id: str  # as submit_sm_resp gave it
    at: int


class Final(NamedTuple):  # a tuple: built per part, 3x faster than a frozen dataclass
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


_FINAL_COLUMNS = (
    "id, project_id, sign_id, e164, nation_code, state, status_desc, fee_num, extend_code,"
    " submitted_at, done_at, accepted_at"
)

class Receipts(Orphans):
    """Parts, receipts and replies (a part of :class:`~smsgate.store.delivery.DeliveryStore`)."""

    db: Db
    grace_ms: int

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
            changed = bulk(
                self.db,
                "UPDATE messages SET state=?, status_desc=?, done_at=? WHERE id=? AND state='SUBMITTED'",
                [(MessageState.EXPIRED, NO_RECEIPT, now, i) for i in ids],
                postgres="UPDATE messages m SET state=u.state, status_desc=u.status_desc, done_at=u.done_at"
                " FROM {rows} AS u(state, status_desc, done_at, id) WHERE m.id=u.id AND m.state='SUBMITTED'"
                " RETURNING m.id",
                types=("text", "text", "bigint", "text"),
            )  # on PostgreSQL only what this sweep changed (another worker's may run at once)
            return self._finals(ids if changed is None else [row[0] for row in changed])

    def finish(self, message_id: str, state: str, status_desc: str, at: int,
               owner: str | None = None) -> Final | None:
        """Put a message in a final state without a receipt (refused by the SMSC, expired);
        with ``owner``, only if that owner still holds it."""
        held, params = held_by(owner)
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
        Messages with a part still out stay SUBMITTED.  Returns the messages this transaction
        settled (read with their parts, so no second query), and only those: on PostgreSQL,
        where another worker may settle the same message at the same moment, the UPDATE says
        which rows it changed."""
        ids = sorted(message_ids)
        if ids and self.db.dialect == POSTGRESQL:
            # another worker may be marking another part of these messages right now: wait for
            # it, so that one of the two sees every part (each alone saw the other's as open,
            # and the message stayed SUBMITTED for good); the reads below see what it committed
            self.db.execute("SELECT 1 FROM messages WHERE id = ANY(?) ORDER BY id FOR UPDATE", (ids,))
        parts: dict[str, list[tuple[str | None, int | None, int]]] = {}
        messages: dict[str, tuple] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for message_id, stat, done_at, total, *message in self.db.execute(
                "SELECT p.message_id, p.stat, p.done_at, p.total, m.project_id, m.sign_id, m.e164,"
                " m.nation_code, m.fee_num, m.extend_code, m.submitted_at, m.accepted_at"
                " FROM message_parts p JOIN messages m ON m.id=p.message_id AND +m.state='SUBMITTED'"
                f" WHERE p.message_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):  # only SUBMITTED ones: a late duplicate receipt must not report a message twice
                parts.setdefault(message_id, []).append((stat, done_at, total))
                messages[message_id] = message
        updates = [u for u in (_outcome(m, rows) for m, rows in parts.items()) if u is not None]
        changed = bulk(
            self.db,
            "UPDATE messages SET state=?, status_desc=?, done_at=? WHERE id=? AND state='SUBMITTED'",
            updates,
            postgres="UPDATE messages m SET state=u.state, status_desc=u.status_desc, done_at=u.done_at"
            " FROM {rows} AS u(state, status_desc, done_at, id) WHERE m.id=u.id AND m.state='SUBMITTED'"
            " RETURNING m.id",
            types=("text", "text", "bigint", "text"),
        )
        mine = None if changed is None else {row[0] for row in changed}
        finals = []
        for state, status_desc, done_at, message_id in updates:
            if mine is None or message_id in mine:
                project_id, sign_id, e164, nation_code, fee_num, extend_code, submitted_at, accepted_at = (
                    messages[message_id])
                finals.append(Final(message_id, project_id, sign_id, e164, nation_code, state, status_desc,
                                    fee_num, extend_code, submitted_at, done_at, accepted_at))
        return finals

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

    def _final(self, message_id: str) -> Final | None:
        finals = self._finals([message_id])
        return finals[0] if finals else None


def _outcome(message_id: str, rows: list[tuple[str | None, int | None, int]]) -> tuple | None:
    """(state, status_desc, done_at, message_id) once every part has its receipt, else None."""
    if len(rows) < rows[0][2] or any(stat is None for stat, _, _ in rows):
        return None
    state, worst = settle(stat for stat, _, _ in rows)
    return state, worst, max(at or 0 for _, at, _ in rows), message_id


def _chunks(keys: Iterable[tuple[str, str]], size: int = 500) -> Iterable[tuple[str, list[str]]]:
    """(channel, up to ``size`` of its keys) for a set of (channel, key)."""
    by_channel: dict[str, list[str]] = {}
    for channel, key in keys:
        if key:
            by_channel.setdefault(channel, []).append(key)
    for channel, channel_keys in by_channel.items():
        for start in range(0, len(channel_keys), size):
            yield channel, channel_keys[start:start + size]
