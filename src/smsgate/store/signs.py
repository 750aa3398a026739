"""What a project sends with and to: its signatures, its own sensitive words, and the numbers
that opted out of a signature.  A part of :class:`~smsgate.store.core.Store`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from smsgate.domain import errors
from smsgate.domain.records import Project, Sign, SignStatus, SignType, new_id, now_ms
from smsgate.store.db import Db

__all__ = ["MAX_SIGNS_PER_PROJECT", "Signs"]

MAX_SIGNS_PER_PROJECT = 10
_SIGN_COLUMNS = "id, project_id, name, type, status, reply, created_at"

def _sign(row: tuple) -> Sign:
    return Sign(row[0], row[1], row[2], SignType(row[3]), SignStatus(row[4]), row[5], row[6])


class Signs:
    db: Db
    _transaction: Callable[[], AbstractContextManager[None]]  # Store's
    require_project: Callable[[str], Project]  # Accounts'
    _bump: Callable[[str], None]  # Accounts'

    # --- signatures ----------------------------------------------------------------------------

    def create_sign(self, project_id: str, name: str, sign_type: SignType) -> Sign:
        sid = new_id()
        with self._transaction():
            self.require_project(project_id)
            live = self.db.execute(
                "SELECT name FROM signs WHERE project_id=? AND status<>?",
                (project_id, int(SignStatus.DELETED)),
            ).fetchall()
            if len(live) >= MAX_SIGNS_PER_PROJECT:
                raise errors.SignQuotaReached()
            if any(row[0] == name for row in live):
                raise errors.SignNameInvalid(f"Parameter: sign_name {name!r} already exists.")
            self.db.execute(
                "INSERT INTO signs (id, project_id, name, type, status, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (sid, project_id, name, int(sign_type), int(SignStatus.PENDING), now_ms()),
            )
            self._bump(project_id)
        return self.require_sign(project_id, sid)

    def set_sign_status(
        self, project_id: str, sign_id: str, status: SignStatus, reply: str = ""
    ) -> Sign:
        with self._transaction():
            sign = self.require_sign(project_id, sign_id)
            if sign.status == SignStatus.DELETED:
                raise errors.SignDeleted()
            self.db.execute(
                "UPDATE signs SET status=?, reply=? WHERE id=?", (int(status), reply, sign_id)
            )
            self._bump(project_id)
        return self.require_sign(project_id, sign_id)

    def require_sign(self, project_id: str, sign_id: str) -> Sign:
        row = self.db.execute(
            f"SELECT {_SIGN_COLUMNS} FROM signs WHERE id=? AND project_id=?",
            (sign_id, project_id),
        ).fetchone()
        if row is None:
            raise errors.SignNotFound()
        return _sign(row)

    def list_signs(self, project_id: str) -> list[Sign]:
        rows = self.db.execute(
            f"SELECT {_SIGN_COLUMNS} FROM signs WHERE project_id=? ORDER BY created_at, id",
            (project_id,),
        ).fetchall()
        return [_sign(row) for row in rows]

    # --- lexicon and opt-outs ------------------------------------------------------------------

    def add_words(self, project_id: str, words: Iterable[str]) -> int:
        with self._transaction():
            self.require_project(project_id)
            cur = self.db.executemany(
                "INSERT INTO sensitive_words (project_id, word) VALUES (?,?) ON CONFLICT DO NOTHING",
                [(project_id, w) for w in words],
            )
            self._bump(project_id)
        return cur.rowcount

    def remove_words(self, project_id: str, words: Iterable[str]) -> int:
        with self._transaction():
            cur = self.db.executemany(
                "DELETE FROM sensitive_words WHERE project_id=? AND word=?",
                [(project_id, w) for w in words],
            )
            self._bump(project_id)
        return cur.rowcount

    def words(self, project_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT word FROM sensitive_words WHERE project_id=? ORDER BY word", (project_id,)
        ).fetchall()
        return [row[0] for row in rows]

    def add_optouts(self, project_id: str, sign_id: str, numbers: Iterable[str]) -> int:
        at = now_ms()
        with self._transaction():
            self.require_sign(project_id, sign_id)
            cur = self.db.executemany(
                "INSERT INTO optouts (project_id, e164, sign_id, created_at)"
                " VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                [(project_id, n, sign_id, at) for n in numbers],
            )
        return cur.rowcount
