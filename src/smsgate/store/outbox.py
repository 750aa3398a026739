"""Callback subscriptions and the persisted outbox of events waiting to be posted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smsgate.store.db import POSTGRESQL, Db, transaction

EVENT_TYPES = ("sms_success_event", "sms_fail_event", "sms_reply_event")


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    project_id: str
    url: str
    body: bytes
    attempts: int


def outbox_depth(db: Db) -> dict[str, int]:
    """Events waiting to be posted (PENDING) and given up on (FAILED)."""
    counts = dict(db.execute("SELECT state, count(*) FROM outbox WHERE state IN ('PENDING','FAILED')"
                             " GROUP BY state").fetchall())
    return {"PENDING": counts.get("PENDING", 0), "FAILED": counts.get("FAILED", 0)}


class OutboxStore:
    def __init__(self, db: Db) -> None:
        self.db = db

    # --- subscriptions -----------------------------------------------------------------------

    def subscriptions(self, project_id: str, event_type: str | None = None) -> list[tuple[str, str]]:
        """(event_type, topic_urn) of a project, optionally of one event type."""
        sql = "SELECT event_type, topic_urn FROM callbacks WHERE project_id=?"
        params: tuple = (project_id,)
        if event_type:
            sql, params = sql + " AND event_type=?", (project_id, event_type)
        return [tuple(row) for row in self.db.execute(sql + " ORDER BY event_type", params)]

    def subscribe(self, project_id: str, callbacks: Sequence[tuple[str, str]],
                  sealed_secret: bytes | None = None) -> None:
        """Set (event_type -> topic_urn); an empty topic_urn removes the subscription.

        ``sealed_secret`` becomes the project's callback signing key if it has none yet."""
        with transaction(self.db):
            if sealed_secret is not None:
                self.db.execute(
                    "UPDATE projects SET callback_secret_enc=? WHERE id=? AND callback_secret_enc IS NULL",
                    (sealed_secret, project_id),
                )
            for event_type, urn in callbacks:
                if urn:
                    self.db.execute(
                        "INSERT INTO callbacks (project_id, event_type, topic_urn) VALUES (?,?,?)"
                        " ON CONFLICT (project_id, event_type) DO UPDATE SET topic_urn=excluded.topic_urn",
                        (project_id, event_type, urn),
                    )
                else:
                    self.db.execute(
                        "DELETE FROM callbacks WHERE project_id=? AND event_type=?",
                        (project_id, event_type),
                    )

    def sealed_secret(self, project_id: str) -> bytes | None:
        row = self.db.execute("SELECT callback_secret_enc FROM projects WHERE id=?", (project_id,)).fetchone()
        return row[0] if row else None

    # --- the outbox --------------------------------------------------------------------------

    def enqueue(self, events: Iterable[tuple[str, str, bytes, str | None]], now: int) -> int:
        """Queue (project_id, event_type, body, message_id) for every subscribed URL; in the
        caller's transaction, so an event is queued exactly when the state change it reports
        commits."""
        rows = []
        urls: dict[tuple[str, str], str | None] = {}
        for project_id, event_type, body, message_id in events:
            key = (project_id, event_type)
            if key not in urls:
                row = self.db.execute(
                    "SELECT topic_urn FROM callbacks WHERE project_id=? AND event_type=?", key
                ).fetchone()
                urls[key] = row[0] if row and row[0].startswith(("http://", "https://")) else None
            if urls[key]:
                rows.append((project_id, urls[key], body, now, "PENDING", now, message_id))
        self.db.executemany(
            "INSERT INTO outbox (project_id, url, body, next_attempt_at, state, created_at,"
            " message_id) VALUES (?,?,?,?,?,?,?)",
            rows,
        )
        return len(rows)

    def take(self, now: int, limit: int, lease_ms: int) -> list[Pending]:
        """Due events, pushed ``lease_ms`` into the future so that no other poster takes them
        while this one posts (if it dies, they are due again then)."""
        with transaction(self.db):
            lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == POSTGRESQL else ""
            rows = self.db.execute(
                "SELECT id, project_id, url, body, attempts FROM outbox"
                " WHERE state='PENDING' AND next_attempt_at<=? ORDER BY next_attempt_at, id"
                f" LIMIT ?{lock}",
                (now, limit),
            ).fetchall()
            self.db.executemany(
                "UPDATE outbox SET next_attempt_at=? WHERE id=?", [(now + lease_ms, r[0]) for r in rows]
            )
        return [Pending(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def settle(self, done: Sequence[int], retries: Sequence[tuple[int, int, str]],
               failed: Sequence[tuple[int, str]]) -> None:
        """Record a round of posts: delivered, to retry at a time, given up."""
        with transaction(self.db):
            self.db.executemany("UPDATE outbox SET state='DONE', attempts=attempts+1 WHERE id=?",
                                [(i,) for i in done])
            self.db.executemany(
                "UPDATE outbox SET attempts=attempts+1, next_attempt_at=?, last_error=? WHERE id=?",
                [(at, err, i) for i, at, err in retries],
            )
            self.db.executemany(
                "UPDATE outbox SET state='FAILED', attempts=attempts+1, last_error=? WHERE id=?",
                [(err, i) for i, err in failed],
            )

    def depth(self) -> int:
        return self.db.execute("SELECT count(*) FROM outbox WHERE state='PENDING'").fetchone()[0]
