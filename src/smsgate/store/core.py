"""The store of record: the accept path and idempotent requests here; projects and their
credentials (:mod:`~smsgate.store.accounts`) and signatures, lexicon and opt-outs
(:mod:`~smsgate.store.signs`) are its other parts.

:class:`Store` holds the SQL once for both engines (see ``store.db``); ``store.sqlite`` and
``store.postgres`` open a connection of their kind and bring its schema up to date.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from smsgate.domain import caps as cap_rule
from smsgate.domain import errors
from smsgate.domain.records import NewMessage, now_ms
from smsgate.store.accounts import Accounts
from smsgate.store.db import POSTGRESQL, ROWS_PER_INSERT, Db, rollback, transaction
from smsgate.store.signs import Signs

if TYPE_CHECKING:
    from smsgate.limits.caps import Caps

IDEMPOTENCY_TTL_MS = 24 * 3_600_000  # a retried batch is recognised for a day

_MESSAGE_COLUMNS = ("id", "project_id", "sign_id", "request_id", "e164", "nation_code", "text",
                    "fee_num", "extend_code", "extend_src_id", "state", "accepted_at")


class Store(Accounts, Signs):
    def __init__(self, db: Db) -> None:
        self.db = db
        self._reserved: tuple[Caps, str, str, dict[str, int]] | None = None

    def close(self) -> None:
        self.db.close()

    def _transaction(self) -> AbstractContextManager[None]:
        return transaction(self.db)

    def ping(self) -> bool:
        return self.db.execute("SELECT 1").fetchone() == (1,)

    # --- the accept path -----------------------------------------------------------------------

    def commit_batch(
        self,
        project_id: str,
        request_id: str,
        day: str,
        cap: int,
        candidates: Sequence[NewMessage],
        caps: Caps | None = None,
    ) -> list[errors.SmsgateError | None]:
        """:meth:`stage_batch` then COMMIT: when this returns, every stored message is durable."""
        outcomes = self.stage_batch(project_id, request_id, day, cap, candidates, caps)
        self.commit()
        return outcomes

    def stage_batch(
        self,
        project_id: str,
        request_id: str,
        day: str,
        cap: int,
        candidates: Sequence[NewMessage],
        caps: Caps | None = None,
    ) -> list[errors.SmsgateError | None]:
        """Check opt-outs and the daily cap, and insert the survivors, in a transaction left
        open for :meth:`commit` (or :meth:`rollback`).

        Returns, per candidate, ``None`` (stored, queued) or the refusal.  Split from the COMMIT
        so the server can run this part on its event loop (no GIL ping-pong with a thread
        binding 999 rows) and only the fsync on a thread.

        The cap is counted by ``caps`` (cluster-wide counters in Redis) when given, else in the
        ``daily_counts`` table, inside this transaction (rows locked on PostgreSQL, where
        several API processes write at once).
        """
        self.db.begin()
        try:
            return self._insert_batch(project_id, request_id, day, cap, candidates, caps)
        except BaseException:
            self.rollback()
            raise

    def commit(self) -> None:
        self.db.execute("COMMIT")
        self._reserved = None

    def rollback(self) -> None:
        """Undo the staged batch, and give back what it had reserved of the caps."""
        rollback(self.db)
        reserved, self._reserved = self._reserved, None
        if reserved is not None:
            caps, project_id, day, counts = reserved
            caps.release(project_id, day, counts)

    def _insert_batch(
        self, project_id: str, request_id: str, day: str, cap: int,
        candidates: Sequence[NewMessage], caps: Caps | None,
    ) -> list[errors.SmsgateError | None]:
        if not candidates:
            return []
        numbers = sorted({c.e164 for c in candidates})
        at = now_ms()
        opted = self._optouts(project_id, numbers)
        if caps is None:
            counts = self._counts(project_id, day, numbers, lock=True)
            outcomes = cap_rule.charge(candidates, opted, counts, cap)
        else:
            outcomes = self._reserve(caps, project_id, day, cap, candidates, opted)
        rows = [
            (c.id, project_id, c.sign_id, request_id, c.e164, c.nation_code, c.text,
             c.fee_num, c.extend_code, c.extend_src_id, "QUEUED", at)
            for c, refusal in zip(candidates, outcomes) if refusal is None
        ]  # fmt: skip
        self.db.insert_many("messages", _MESSAGE_COLUMNS, rows)
        if caps is None:
            self._save_counts(project_id, day, {row[4]: counts[row[4]] for row in rows})
        return outcomes

    def _save_counts(self, project_id: str, day: str, counts: dict[str, int]) -> None:
        """Today's new counts of the numbers a batch stored messages to, in order, by
        multi-row upserts of :data:`ROWS_PER_INSERT` (one row per statement took twice the time)."""
        touched = sorted(counts)
        for start in range(0, len(touched), ROWS_PER_INSERT):
            chunk = touched[start:start + ROWS_PER_INSERT]
            self.db.execute(
                "INSERT INTO daily_counts (project_id, e164, day, n) VALUES "
                + ",".join(["(?,?,?,?)"] * len(chunk))
                + " ON CONFLICT (project_id, e164, day) DO UPDATE SET n=excluded.n",
                [v for e164 in chunk for v in (project_id, e164, day, counts[e164])],
            )

    def _reserve(
        self, caps: Caps, project_id: str, day: str, cap: int,
        candidates: Sequence[NewMessage], opted: set[tuple[str, str]],
    ) -> list[errors.SmsgateError | None]:
        """Opt-outs from the store, the cap from the shared counters (one round trip): they
        grant each number ``min(wanted, room)``, which the candidates then take in order."""
        wants = cap_rule.wanted(candidates, opted)
        granted = caps.reserve(project_id, day, wants, cap) if wants else {}
        self._reserved = (caps, project_id, day, dict(granted))
        return cap_rule.screen(candidates, opted, granted)

    def preview_batch(
        self, project_id: str, day: str, cap: int, candidates: Sequence[NewMessage],
        caps: Caps | None = None,
    ) -> list[errors.SmsgateError | None]:
        """What :meth:`stage_batch` would answer now (opt-outs, the daily cap), storing
        nothing: the dry run."""
        if not candidates:
            return []
        numbers = sorted({c.e164 for c in candidates})
        opted = self._optouts(project_id, numbers)
        if caps is None:
            counts = self._counts(project_id, day, numbers)
        else:
            counts = dict.fromkeys(numbers, 0) | caps.peek(project_id, day, numbers)
        return cap_rule.charge(candidates, opted, counts, cap)

    def _optouts(self, project_id: str, numbers: list[str]) -> set[tuple[str, str]]:
        marks = ",".join("?" * len(numbers))
        rows = self.db.execute(
            f"SELECT e164, sign_id FROM optouts WHERE project_id=? AND e164 IN ({marks})",
            (project_id, *numbers),
        ).fetchall()
        return {(row[0], row[1]) for row in rows}

    def _counts(self, project_id: str, day: str, numbers: list[str], lock: bool = False) -> dict[str, int]:
        """Today's counts of ``numbers`` (sorted).  With ``lock`` on PostgreSQL, their rows are
        created if missing and locked, in order, until the transaction ends, so two API
        processes cannot both take a number's last message."""
        marks = ",".join("?" * len(numbers))
        sql = f"SELECT e164, n FROM daily_counts WHERE project_id=? AND day=? AND e164 IN ({marks})"
        if lock and self.db.dialect == POSTGRESQL:
            self.db.executemany(
                "INSERT INTO daily_counts (project_id, e164, day, n) VALUES (?,?,?,0)"
                " ON CONFLICT DO NOTHING",
                [(project_id, e164, day) for e164 in numbers],
            )
            sql += " ORDER BY e164 FOR UPDATE"
        rows = self.db.execute(sql, (project_id, day, *numbers)).fetchall()
        counts = dict.fromkeys(numbers, 0)
        counts.update(rows)
        return counts

    # --- idempotent requests -------------------------------------------------------------------

    def remember_response(self, project_id: str, key: str, fingerprint: str, body: bytes,
                          at: int, expires_at: int | None = None) -> bool:
        """Keep a batch's answer under its idempotency key until ``expires_at`` (default: a day),
        with the fingerprint of the request it answers, in the batch's transaction; False when
        the key was taken meanwhile (the same batch sent twice at once).  An answer whose time
        is over gives its key up."""
        expires_at = at + IDEMPOTENCY_TTL_MS if expires_at is None else expires_at
        cur = self.db.execute(
            "INSERT INTO idempotent_requests (project_id, key, fingerprint, response, created_at, expires_at)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (project_id, key) DO UPDATE SET"
            " fingerprint=excluded.fingerprint, response=excluded.response,"
            " created_at=excluded.created_at, expires_at=excluded.expires_at"
            " WHERE idempotent_requests.expires_at<excluded.created_at",
            (project_id, key, fingerprint, body, at, expires_at),
        )
        if at % 100 == 0:  # now and then, forget the answers whose time is over
            self.db.execute("DELETE FROM idempotent_requests WHERE expires_at<?", (at,))
        return cur.rowcount == 1

    def remembered_response(self, project_id: str, key: str, fingerprint: str, now: int) -> bytes | None:
        """The answer kept under ``key``, if its time is not over; raises
        :class:`errors.IdempotencyKeyReused` when it answered another request."""
        row = self.db.execute(
            "SELECT response, fingerprint FROM idempotent_requests WHERE project_id=? AND key=?"
            " AND expires_at>=?",
            (project_id, key, now),
        ).fetchone()
        if row is None:
            return None
        if row[1] is not None and row[1] != fingerprint:
            raise errors.IdempotencyKeyReused()
        return bytes(row[0])

    def count_messages(self, project_id: str | None = None) -> int:
        if project_id is None:
            return self.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        return self.db.execute(
            "SELECT count(*) FROM messages WHERE project_id=?", (project_id,)
        ).fetchone()[0]

    def message(self, message_id: str) -> dict | None:
        cur = self.db.execute(
            "SELECT id, project_id, sign_id, request_id, e164, nation_code, text, fee_num,"
            " extend_code, extend_src_id, state, accepted_at, attempts, channel, submitted_at,"
            " done_at, status_desc, next_attempt_at FROM messages WHERE id=?",
            (message_id,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row))

