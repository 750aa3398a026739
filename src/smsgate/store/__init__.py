"""Persistence: one :class:`~smsgate.store.core.Store` over SQLite (the embedded default) or
PostgreSQL, chosen by the database URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smsgate.config import Settings
    from smsgate.store.core import Store


def open_store(settings: Settings) -> Store:
    """A new connection to the configured store, its schema brought up to date."""
    if settings.is_postgres:
        from smsgate.store.postgres import PostgresStore

        return PostgresStore(settings.database_url or "")
    from smsgate.store.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path, settings.sqlite_synchronous)
