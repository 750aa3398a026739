"""The embedded store: SQLite in WAL mode under the data directory.

One :class:`SqliteStore` wraps one connection and is used from one thread at a time.  The server
keeps two: a reader on the event loop (WAL readers never wait for the writer) and a writer driven
by a single thread (see ``api.state``), so a batch is one transaction and one fsync.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from smsgate.store.core import Store
from smsgate.store.db import SqliteDb, transaction  # noqa: F401  (re-exported)
from smsgate.store.migrations import MIGRATIONS, statements


def connect(path: Path, synchronous: str = "FULL") -> SqliteDb:
    path.parent.mkdir(parents=True, exist_ok=True)
    _create_private(path)
    # isolation_level=None: we issue BEGIN ourselves, so a batch is exactly one transaction.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=SqliteDb)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("PRAGMA foreign_keys=ON")
    migrate(db)
    return db


def _create_private(path: Path) -> None:
    """Create the database file 0600 (owner only: it holds sealed keys, phone numbers and
    texts) before SQLite opens it; SQLite gives its -wal and -shm files the same mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def migrate(db: SqliteDb, upto: int = len(MIGRATIONS)) -> None:
    """Apply every migration newer than the database's ``user_version`` (up to ``upto``), all
    in one transaction: a database is never left half-upgraded."""
    with transaction(db):
        current = db.execute("PRAGMA user_version").fetchone()[0]
        for version in range(current + 1, upto + 1):
            for statement in statements(version):
                db.execute(statement)
            db.execute(f"PRAGMA user_version={version}")


class SqliteStore(Store):
    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = path
        super().__init__(connect(path, synchronous))

    def disable_autocheckpoint(self) -> None:
        """Leave WAL checkpoints to :meth:`checkpoint` on another connection, so that a commit
        never pays for copying the WAL back into the database while it holds the write lock."""
        self.db.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self) -> None:
        """Copy committed WAL frames into the database without blocking readers or the writer."""
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
