"""One connection interface over SQLite and PostgreSQL, so the stores hold one copy of their SQL.

The stores talk DB-API: ``db.execute(sql, params)``, ``db.executemany``, ``db.in_transaction``,
``db.begin()``, with ``?`` placeholders and SQL both engines accept (``ON CONFLICT``, ``CASE``,
no ``INSERT OR IGNORE``).  SQLite is used as is, through a ``sqlite3.Connection`` subclass;
:class:`PgDb` wraps a psycopg connection and rewrites each statement once (placeholders, and
SQLite's ``+column`` index hints, which PostgreSQL has no use for).  Where the engines need
different statements (claims with ``SKIP LOCKED``, row locks on counters) the store branches on
``db.dialect``.  Written by hand: SQLAlchemy Core would do it at several times the cost per
statement on the accept path, and the stores need only these few calls.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

SQLITE, POSTGRESQL = "sqlite", "postgresql"
#: rows per multi-row INSERT on SQLite (x 12 columns of a message: well under SQLite's 32,766
#: variables per statement)
ROWS_PER_INSERT = 250


class Db(Protocol):
    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Any: ...
    def begin(self) -> None: ...
    def close(self) -> None: ...
    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


class SqliteDb(sqlite3.Connection):
    """A SQLite connection that says which dialect it speaks."""

    dialect = SQLITE

    def begin(self) -> None:
        # IMMEDIATE: take the write lock now, so a transaction never fails half-way on it
        self.execute("BEGIN IMMEDIATE")

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Rows by multi-row INSERTs of :data:`ROWS_PER_INSERT` (the statements are prepared
        once and kept in the connection's cache): a 999-row batch is four statements, not
        999 executions of one (a fifth less time)."""
        one = "(" + ",".join("?" * len(columns)) + ")"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start:start + ROWS_PER_INSERT]
            self.execute(head + ",".join([one] * len(chunk)), [v for row in chunk for v in row])


def driver_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a failing store raises, whichever engine it is."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


_HINT = re.compile(r"(?<![\w)])\+(?=[a-z_][\w.]*)")  # SQLite's "+col": don't use an index


def to_postgres(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (a literal ``%`` doubled); index hints dropped."""
    return _HINT.sub("", sql.replace("%", "%%").replace("?", "%s"))


class PgDb:
    """A psycopg connection in autocommit mode (we say BEGIN ourselves, as with SQLite) that
    reconnects by itself: after PostgreSQL restarts, the next statement opens a new connection
    (or fails fast, at most one attempt per ``retry_s``) instead of failing forever."""

    dialect = POSTGRESQL

    def __init__(self, url: str, connect_timeout: int = 3, retry_s: float = 0.5) -> None:
        import psycopg

        self._psycopg = psycopg
        self.url = url
        self._timeout = connect_timeout
        self._retry_s = retry_s
        self._failed_at = 0.0
        self._sql: dict[str, str] = {}
        self._conn: Any = None
        self._open = False  # inside BEGIN ... COMMIT/ROLLBACK
        self._connect()

    def _connect(self) -> Any:
        now = time.monotonic()
        if now - self._failed_at < self._retry_s:
            raise self._psycopg.OperationalError("PostgreSQL is unreachable (retrying shortly)")
        try:
            # no server-side prepared statements: measured, they made delivery 3x slower (generic
            # plans for the unnest and IN (...) statements), and they break behind pgbouncer
            self._conn = self._psycopg.connect(
                self.url, autocommit=True, prepare_threshold=None, **self._network_defaults()
            )
        except self._psycopg.OperationalError:
            self._failed_at = now
            raise
        return self._conn

    def _network_defaults(self) -> dict[str, Any]:
        """libpq settings that turn a lost peer (a host gone, a network that drops packets)
        into an error within seconds instead of a read that waits for ever: TCP keepalives on
        idle connections, and ``tcp_user_timeout`` for data never acknowledged.  Whatever the
        URL sets itself wins."""
        given = self._psycopg.conninfo.conninfo_to_dict(self.url)
        defaults = {"connect_timeout": self._timeout, "keepalives": 1, "keepalives_idle": 10,
                    "keepalives_interval": 5, "keepalives_count": 3, "tcp_user_timeout": 15_000}
        return {k: v for k, v in defaults.items() if k not in given}

    @property
    def conn(self) -> Any:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if self._open:  # never carry on a transaction's later statements on a new session
                raise self._psycopg.OperationalError("the connection broke inside a transaction")
            conn = self._connect()
        return conn

    def _translate(self, sql: str) -> str:
        translated = self._sql.get(sql)
        if translated is None:
            translated = self._sql[sql] = to_postgres(sql)
        return translated

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if sql in ("COMMIT", "ROLLBACK"):
            self._open = False
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                raise self._psycopg.OperationalError("the connection broke inside a transaction")
            return conn.execute(sql)
        # always with params (if empty), so that the doubled '%' of the translation reads as one
        return self.conn.execute(self._translate(sql), params)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Any:
        cur = self.conn.cursor()
        rows = list(seq)
        if rows:
            cur.executemany(self._translate(sql), rows)
        return cur

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Rows by COPY: a quarter of the time of a pipelined INSERT per row, a fifth of the CPU
        (999 messages: 8 ms against 32 ms)."""
        if not rows:
            return
        with self.conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def begin(self) -> None:
        self.conn.execute("BEGIN")
        self._open = True

    @property
    def in_transaction(self) -> bool:
        return self._open

    def close(self) -> None:
        self._open = False
        if self._conn is not None:
            self._conn.close()


def bulk(db: Db, each: str, rows: Sequence[Sequence[Any]], *, postgres: str,
         types: Sequence[str]) -> list[tuple[Any, ...]] | None:
    """Run ``each`` once per row on SQLite (in-process, cheap); on PostgreSQL run ``postgres``
    once, with ``{rows}`` standing for the rows as ``unnest`` of one array per column (of
    ``types``): one statement instead of one per row, which is where a worker's writes
    spent their time.  Returns what a PostgreSQL statement with ``RETURNING`` returned (None
    on SQLite, whose single writer already knows)."""
    if not rows:
        return [] if db.dialect == POSTGRESQL else None
    if db.dialect != POSTGRESQL:
        db.executemany(each, rows)
        return None
    arrays = ", ".join(f"?::{t}[]" for t in types)
    cur = db.execute(postgres.replace("{rows}", f"unnest({arrays})"), [list(c) for c in zip(*rows)])
    return cur.fetchall() if cur.description else None


@contextmanager
def transaction(db: Db) -> Iterator[None]:
    """``BEGIN`` … ``COMMIT``, or ``ROLLBACK`` on any exception.

    Inside a transaction already open it only joins it, so that several store methods can be
    composed into one atomic change (a receipt and the callback event it causes)."""
    if db.in_transaction:
        yield
        return
    db.begin()
    try:
        yield
    except BaseException:
        rollback(db)
        raise
    db.execute("COMMIT")


def rollback(db: Db) -> None:
    """Undo the open transaction, if any; a connection already gone has nothing to undo."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except driver_errors():
            pass
