"""Callback subscriptions and the persisted outbox of events waiting to be posted."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from smsgate.store.db import POSTGRESQL, ROWS_PER_INSERT, Db, transaction

EVENT_TYPES = ("sms_success_event", "sms_fail_event", "sms_reply_event")


@dataclass(frozen=True, slots=True)
class Batching:
    """A subscription's batched delivery: a JSON array of up to ``max_events`` events per
    POST, posted once it is full or its oldest event has waited ``max_wait_ms``."""

    max_events: int
    max_wait_ms: int


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    project_id: str
    url: str
    body: bytes
    attempts: int
    created_at: int = 0
    batching: Batching | None = None  # None: posted alone, as SMN posts events
    batch_id: int | None = None  # the first event's id, once a batch was taken


#: what :meth:`OutboxStore.claim` reads of an event
_PENDING = ("id, project_id, url, body, attempts, created_at, batch_max_events, batch_max_wait_ms,"
            " batch_id")


#: what :meth:`OutboxStore.enqueue` writes of an event
_INSERTED = ("project_id, url, body, next_attempt_at, state, created_at, message_id, batch_max_events,"
             " batch_max_wait_ms")


def _batch_columns(batching: Batching | None) -> tuple[int | None, int | None]:
    return (batching.max_events, batching.max_wait_ms) if batching else (None, None)


def _pending(row: Sequence) -> Pending:
    batching = Batching(row[6], row[7] or 0) if row[6] is not None else None
    return Pending(row[0], row[1], row[2], bytes(row[3]), row[4], row[5], batching, row[8])


class Planner(Protocol):
    """Chooses, from due events read oldest first, what to post now (``callbacks.posts``)."""

    full: bool

    def free(self, project_id: str) -> int: ...

    def add(self, event: Pending) -> None: ...

    def posts(self) -> list[list[Pending]]: ...


def outbox_depth(db: Db) -> dict[str, int]:
    """Events waiting to be posted (PENDING) and given up on (FAILED)."""
    counts = dict(db.execute("SELECT state, count(*) FROM outbox WHERE state IN ('PENDING','FAILED')"
                             " GROUP BY state").fetchall())
    return {"PENDING": counts.get("PENDING", 0), "FAILED": counts.get("FAILED", 0)}


@contextmanager
def unsynced(db: Db) -> Iterator[None]:
    """A transaction whose COMMIT does not wait for the disk, for the poster's own bookkeeping
    (leases and outcomes): a power loss can take back the last ones, which only means their
    events are posted again (delivery is at least once anyway), and it spares the writer an
    fsync per round of posts (~2 ms here, holding the write lock the receipts wait for).  On
    SQLite (WAL) ``synchronous=NORMAL`` for this transaction (the next synced commit makes it
    durable too; a crash of the process loses nothing); on PostgreSQL ``synchronous_commit``
    off for it."""
    if db.dialect == POSTGRESQL or db.in_transaction:
        with transaction(db):
            if db.dialect == POSTGRESQL:
                db.execute("SET LOCAL synchronous_commit TO OFF")
            yield
        return
    (level,) = db.execute("PRAGMA synchronous").fetchone()
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        with transaction(db):
            yield
    finally:
        db.execute(f"PRAGMA synchronous={int(level)}")


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

    def batching(self, project_id: str) -> dict[str, Batching]:
        """The batched deliveries a project's subscriptions ask for, by event type."""
        rows = self.db.execute(
            "SELECT event_type, batch_max_events, batch_max_wait_ms FROM callbacks"
            " WHERE project_id=? AND batch_max_events IS NOT NULL", (project_id,))
        return {event_type: Batching(n, wait) for event_type, n, wait in rows}

    def subscribe(self, project_id: str, callbacks: Sequence[tuple[str, str] | tuple[str, str, Batching | None]],
                  sealed_secret: bytes | None = None) -> None:
        """Set (event_type -> topic_urn[, batching]); an empty topic_urn removes the
        subscription, and one given without batching posts its events one by one.

        ``sealed_secret`` becomes the project's callback signing key if it has none yet."""
        with transaction(self.db):
            if sealed_secret is not None:
                self.db.execute(
                    "UPDATE projects SET callback_secret_enc=? WHERE id=? AND callback_secret_enc IS NULL",
                    (sealed_secret, project_id),
                )
            for event_type, urn, *rest in callbacks:
                batching = rest[0] if rest else None
                if urn:
                    n, wait = (batching.max_events, batching.max_wait_ms) if batching else (None, None)
                    self.db.execute(
                        "INSERT INTO callbacks (project_id, event_type, topic_urn, batch_max_events,"
                        " batch_max_wait_ms) VALUES (?,?,?,?,?) ON CONFLICT (project_id, event_type) DO UPDATE"
                        " SET topic_urn=excluded.topic_urn, batch_max_events=excluded.batch_max_events,"
                        " batch_max_wait_ms=excluded.batch_max_wait_ms",
                        (project_id, event_type, urn, n, wait),
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
        """Queue (project_id, event_type, body, message_id) for every subscribed URL, with the
        subscription's batching, due now; in the caller's transaction, so an event is queued
        exactly when the state change it reports commits."""
        rows = [(p, url, body, now, "PENDING", now, message_id, *_batch_columns(batching))
                for p, url, body, message_id, batching in self._subscribed(events)]
        self.db.executemany(f"INSERT INTO outbox ({_INSERTED}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def enqueue_leased(self, events: Iterable[tuple[str, str, bytes, str | None]], now: int,
                       lease_ms: int) -> list[Pending]:
        """As :meth:`enqueue`, but each event is already leased to the caller (its next attempt
        ``lease_ms`` from now, plus its batch's ``max_wait_ms``) and returned: the poster of
        this process posts them without reading them back (``Poster.hand``), and if the process
        dies they are due again, to any poster, once the lease lapses."""
        kept = list(self._subscribed(events))
        head = f"INSERT INTO outbox ({_INSERTED}) VALUES "
        pending: list[Pending] = []
        for start in range(0, len(kept), ROWS_PER_INSERT):
            chunk = kept[start:start + ROWS_PER_INSERT]
            values = [v for p, url, body, message_id, batching in chunk
                      for v in (p, url, body, now + lease_ms + (batching.max_wait_ms if batching else 0),
                                "PENDING", now, message_id, *_batch_columns(batching))]
            rows = self.db.execute(head + ",".join(["(?,?,?,?,?,?,?,?,?)"] * len(chunk))
                                   + " RETURNING id, message_id, url", values).fetchall()
            pending += [Pending(i, p, url, body, 0, now, batching)
                        for i, (p, url, body, _m, batching) in zip(_ids_in_order(rows, chunk), chunk, strict=True)]
        return pending

    def _subscribed(self, events: Iterable[tuple[str, str, bytes, str | None]],
                    ) -> Iterator[tuple[str, str, bytes, str | None, Batching | None]]:
        """(project_id, url, body, message_id, batching) of each event that has a subscriber."""
        subs: dict[tuple[str, str], tuple[str, Batching | None] | None] = {}
        for project_id, event_type, body, message_id in events:
            key = (project_id, event_type)
            if key not in subs:
                row = self.db.execute(
                    "SELECT topic_urn, batch_max_events, batch_max_wait_ms FROM callbacks"
                    " WHERE project_id=? AND event_type=?", key
                ).fetchone()
                ok = row and row[0].startswith(("http://", "https://"))
                subs[key] = (row[0], Batching(row[1], row[2] or 0) if row[1] is not None else None) if ok else None
            sub = subs[key]
            if sub:
                yield project_id, sub[0], body, message_id, sub[1]

    def claim(self, now: int, lease_ms: int, planner: Planner, rotate: int = 0,
              most: int = 4000) -> list[list[Pending]]:
        """Due events as ``planner`` groups them into posts (one event, or a batch's events in
        order), pushed ``lease_ms`` into the future so that no other poster takes them while
        this one posts (if it dies, they are due again then).

        Project by project (the ones with events waiting, starting at the ``rotate``-th, so
        that each gets its turn), oldest first, as many as the planner has slots for (at most
        ``most`` read per project): a project whose endpoint is slow has its own slots full
        and is not even read.  A batch once taken keeps its events: only its first one is read
        here, the others come with it, and all of them are leased with their ``batch_id``."""
        with transaction(self.db):
            lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == POSTGRESQL else ""
            projects = self._waiting_projects()
            if projects:
                rotate %= len(projects)
                projects = projects[rotate:] + projects[:rotate]
            for project_id in projects:
                if planner.full:
                    break
                self._read_due(project_id, now, planner, lock, most)
            posts = planner.posts()
            self._add_members(posts, lock)
            until = now + lease_ms
            self.db.executemany(
                "UPDATE outbox SET next_attempt_at=?, batch_id=? WHERE id=?",
                [(until, p[0].id if p[0].batching else None, e.id) for p in posts for e in p],
            )
        return posts

    def _waiting_projects(self) -> list[str]:
        """Projects with events waiting (due or not), one index probe each (a loose index scan
        of ``outbox_waiting``, however many events wait)."""
        rows = self.db.execute(
            "WITH RECURSIVE p(id) AS ("
            " SELECT * FROM (SELECT project_id FROM outbox WHERE state='PENDING' ORDER BY project_id LIMIT 1)"
            " AS first"
            " UNION ALL"
            " SELECT (SELECT project_id FROM outbox WHERE state='PENDING' AND project_id>p.id"
            " ORDER BY project_id LIMIT 1) FROM p WHERE p.id IS NOT NULL)"
            " SELECT id FROM p WHERE id IS NOT NULL"
        ).fetchall()
        return [r[0] for r in rows]

    def _read_due(self, project_id: str, now: int, planner: Planner, lock: str, most: int) -> None:
        """A project's due events, oldest first, a page at a time while the planner has slots
        for more of them (a batch's first event only: see :meth:`claim`)."""
        after: tuple = ()
        read, size = 0, 1
        while read < most:
            free = planner.free(project_id)
            if free <= 0:
                return
            page = min(free * size, most - read)
            sql = (f"SELECT {_PENDING}, next_attempt_at FROM outbox WHERE state='PENDING' AND project_id=?"
                   " AND next_attempt_at<=? AND (batch_id IS NULL OR batch_id=id)")
            if after:
                sql += " AND (next_attempt_at>? OR (next_attempt_at=? AND id>?))"
            rows = self.db.execute(sql + f" ORDER BY next_attempt_at, id LIMIT ?{lock}",
                                   (project_id, now, *after, page)).fetchall()
            for row in rows:
                event = _pending(row)
                planner.add(event)
                if event.batching is not None and event.batch_id is None:
                    size = max(size, event.batching.max_events)
            read += len(rows)
            if len(rows) < page:
                return
            after = (rows[-1][-1], rows[-1][-1], rows[-1][0])

    def _add_members(self, posts: list[list[Pending]], lock: str) -> None:
        """The other events of the batches taken again (their first one was read)."""
        retried = [p[0].id for p in posts if p[0].batch_id is not None]
        if not retried:
            return
        members: dict[int, list[Pending]] = {}
        marks = ",".join("?" * len(retried))
        for row in self.db.execute(
            f"SELECT {_PENDING} FROM outbox WHERE batch_id IS NOT NULL AND batch_id IN ({marks})"
            f" AND id<>batch_id AND state='PENDING' ORDER BY id{' FOR UPDATE' if lock else ''}", retried,
        ):
            members.setdefault(row[8], []).append(_pending(row))
        for post in posts:
            post.extend(members.get(post[0].id, ()))

    def settle_and_claim(self, outcomes: tuple, now: int, lease_ms: int, planner: Planner | None,
                         rotate: int = 0) -> list[list[Pending]]:
        """The poster's one write per round: :meth:`settle` the outcomes, then :meth:`claim`
        (unless ``planner`` is None), in one :func:`unsynced` transaction, so that a claim that
        fails writes no outcome either."""
        with unsynced(self.db):
            if any(outcomes):
                self.settle(*outcomes)
            return self.claim(now, lease_ms, planner, rotate) if planner is not None else []

    def settle(self, done: Sequence[int], retries: Sequence[tuple[int, int, str]],
               failed: Sequence[tuple[int, str]], released: Sequence[tuple[int, int]] = (),
               batches: Sequence[tuple[int, int]] = ()) -> None:
        """Record posts' outcomes, by event: delivered, to retry at a time, given up, given back
        unposted (due again at a time, no attempt counted); one transaction, and an event
        already settled otherwise is left as it is.  ``batches`` (batch_id, event id): the
        batch an event was posted in, kept so that the batch is retried whole (a batch the
        claim took has it already; one the poster formed in memory gets it here)."""
        with transaction(self.db):
            self.db.executemany("UPDATE outbox SET batch_id=? WHERE id=? AND state='PENDING'", batches)
            self.db.executemany("UPDATE outbox SET next_attempt_at=? WHERE id=? AND state='PENDING'",
                                [(at, i) for i, at in released])
            self.db.executemany(
                "UPDATE outbox SET state='DONE', attempts=attempts+1 WHERE id=? AND state='PENDING'",
                [(i,) for i in done])
            self.db.executemany(
                "UPDATE outbox SET attempts=attempts+1, next_attempt_at=?, last_error=?"
                " WHERE id=? AND state='PENDING'",
                [(at, err, i) for i, at, err in retries],
            )
            self.db.executemany(
                "UPDATE outbox SET state='FAILED', attempts=attempts+1, last_error=?"
                " WHERE id=? AND state='PENDING'",
                [(err, i) for i, err in failed],
            )

    def depth(self) -> int:
        return self.db.execute("SELECT count(*) FROM outbox WHERE state='PENDING'").fetchone()[0]


def _ids_in_order(rows: list[tuple[Any, ...]], chunk: list[tuple[Any, ...]]) -> list[int]:
    """The ids ``INSERT … RETURNING id, message_id, url`` gave, in the order of ``chunk``'s rows:
    matched by (message_id, url), which is one row's when every event names its message (status
    events: one per message and URL); else by id order, which is the VALUES order in practice
    on both engines (neither promises the order RETURNING lists rows in)."""
    by_key = {(message_id, url): i for i, message_id, url in rows}
    keys = [(message_id, url) for _p, url, _b, message_id, _batching in chunk]
    if len(by_key) == len(rows) == len(chunk) and None not in (k[0] for k in keys) and set(keys) == by_key.keys():
        return [by_key[k] for k in keys]
    return sorted(r[0] for r in rows)
