"""PostgreSQL as the store of record when one machine is not enough: any number of API and
worker processes share it (claims take rows with ``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

from smsgate.store.core import Store
from smsgate.store.db import PgDb, transaction
from smsgate.store.migrations import MIGRATIONS, statements

_MIGRATION_LOCK = 0x736D7367  # "smsg": one process upgrades the schema at a time


def connect(url: str) -> PgDb:
    db = PgDb(url)
    migrate(db)
    return db


def migrate(db: PgDb, upto: int = len(MIGRATIONS)) -> None:
    """Bring the schema to version ``upto`` in one transaction, under an advisory lock so that
    processes starting together don't race; the version lives in ``schema_version``."""
    with transaction(db):
        db.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        row = db.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        for version in range(current + 1, upto + 1):
            for statement in statements(version, "postgresql"):
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))


class PostgresStore(Store):
    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(connect(url))
