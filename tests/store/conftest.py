"""Every test here runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smsgate.store import postgres, sqlite
from smsgate.store.core import Store
from tests.services import PgSchema

Opener = Callable[[], Store]


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


@pytest.fixture
def opener(tmp_path: Path, both_backends: str) -> Iterator[Opener]:
    """Opens a new connection to one database of the engine under test."""
    opened: list[Store] = []
    if both_backends == "sqlite":
        path = tmp_path / "s.sqlite3"

        def open_sqlite() -> Store:
            opened.append(sqlite.SqliteStore(path, "NORMAL"))
            return opened[-1]

        yield open_sqlite
    else:
        schema = PgSchema()

        def open_pg() -> Store:
            opened.append(postgres.PostgresStore(schema.url))
            return opened[-1]

        yield open_pg
    for store in opened:
        store.close()
    if both_backends != "sqlite":
        schema.drop()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()
