"""The store's side of sending: claiming queued messages under a lease, renewing it, and
putting them back (held for the window, retried, given back) or on to SUBMITTED.

Every method is one transaction, so a dispatcher that dies at any point leaves the store
consistent: a claimed message comes back after its lease, and a part whose submit_sm_resp was
recorded is never submitted again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from smsgate.store.db import POSTGRESQL, Db
from smsgate.store.db import transaction as _transaction

__all__ = ["Claimed", "Claims", "queue_depth"]


def held_by(owner: str | None) -> tuple[str, tuple[str, ...]]:
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


class Claimed(NamedTuple):  # a tuple: built per part, 3x faster than a frozen dataclass
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


_CLAIMED = "id, project_id, sign_id, e164, text, extend_src_id, attempts, accepted_at"


class Claims:
    """Claiming and putting back (a part of :class:`~smsgate.store.delivery.DeliveryStore`)."""

    db: Db

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
        held, params = held_by(owner)
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
        held, params = held_by(owner)
        with _transaction(self.db):
            self.db.execute(
                "UPDATE messages SET state='QUEUED', next_attempt_at=?, lease_until=NULL, owner=NULL,"
                f" attempts=attempts+1, status_desc=? WHERE id=? AND {held}",
                (at, reason, message_id, *params),
            )

    def mark_submitted(self, message_id: str, owner: str | None = None) -> None:
        """A claimed message whose every part had been answered already (by an owner that lost
        its lease before it could say so): SUBMITTED, waiting for its receipts."""
        held, params = held_by(owner)
        with _transaction(self.db):
            self.db.execute(
                "UPDATE messages SET state='SUBMITTED', lease_until=NULL, owner=NULL, submitted_at="
                "(SELECT max(submitted_at) FROM message_parts WHERE message_id=?)"
                f" WHERE id=? AND {held}",
                (message_id, message_id, *params),
            )
