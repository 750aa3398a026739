"""Receipts that named no part when they came (orphans): kept, one row under each reading of
their id, until their part is recorded (``Receipts.record_parts`` adopts them) or, past the
grace, judged once by :meth:`Orphans.match_waiting`.  A part of
:class:`~smsgate.store.delivery.DeliveryStore`, beside :class:`~smsgate.store.receipts.Receipts`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smsgate.domain.carrier_ids import Candidate, Verdict, choose, id_key, lookup_keys
from smsgate.store.db import POSTGRESQL, Db, bulk
from smsgate.store.db import transaction as _transaction

if TYPE_CHECKING:
    from smsgate.store.receipts import Final, Receipt

__all__ = ["ORPHAN_KEEP_MS", "Orphans", "Unmatched", "Waited"]

ORPHAN_KEEP_MS = 7 * 24 * 3_600_000  # and it is kept this long in case its part turns up
_WAITING_LOCK = 0x736D7367_0005  # PostgreSQL: one worker at a time looks at waiting receipts


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


class Orphans:
    """Kept receipts (see the module docstring); marking parts and settling messages are
    :class:`~smsgate.store.receipts.Receipts`'s."""

    db: Db
    grace_ms: int

    def _mark_parts(self, marks: Sequence[tuple[tuple[str, int], str, str | None, int]]) -> None:
        raise NotImplementedError

    def _settle_all(self, message_ids: set[str]) -> list[Final]:
        raise NotImplementedError

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
