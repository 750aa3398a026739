"""Projects and their credentials: the project rows, access keys (secrets sealed at rest),
tokens (kept as hashes) and the request signatures seen (replay protection).  A part of
:class:`~smsgate.store.core.Store`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from smsgate.domain import errors
from smsgate.domain.records import Project, new_id, now_ms
from smsgate.store.db import POSTGRESQL, Db

__all__ = ["Accounts", "TokenRow"]

_PROJECT_COLUMNS = "id, name, enterprise, grants, daily_cap, send_window, version, created_at"

@dataclass(frozen=True, slots=True)
class TokenRow:
    """A token as operators see it: never the token itself."""

    id: str
    access_key: str | None  # the key it was minted with; None: by an operator, or unknown
    issued_at: int | None  # None: issued before tokens could be revoked (schema 5)
    expires_at: int
    revoked_at: int | None


def _project(row: tuple) -> Project:
    grants = frozenset(g for g in row[3].split(",") if g)
    return Project(row[0], row[1], bool(row[2]), grants, row[4], row[5], row[6], row[7])


class Accounts:
    db: Db
    _transaction: Callable[[], AbstractContextManager[None]]  # Store's

    # --- projects ------------------------------------------------------------------------------

    def create_project(self, name: str, enterprise: bool, grants: Iterable[str]) -> Project:
        pid, at = new_id(), now_ms()
        with self._transaction():
            self.db.execute(
                "INSERT INTO projects (id, name, enterprise, grants, created_at) VALUES (?,?,?,?,?)",
                (pid, name, int(enterprise), ",".join(sorted(set(grants))), at),
            )
        project = self.get_project(pid)
        assert project is not None
        return project

    def get_project(self, project_id: str) -> Project | None:
        row = self.db.execute(
            f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE id=?", (project_id,)
        ).fetchone()
        return _project(row) if row else None

    def require_project(self, project_id: str) -> Project:
        project = self.get_project(project_id)
        if project is None:
            raise errors.ProjectNotFound(f"Project {project_id} does not exist.")
        return project

    def project_version(self, project_id: str) -> int | None:
        row = self.db.execute("SELECT version FROM projects WHERE id=?", (project_id,)).fetchone()
        return row[0] if row else None

    def update_project(self, project_id: str, **fields: object) -> Project:
        """Set any of enterprise, grants, daily_cap, send_window (None leaves a field alone)."""
        allowed = {"enterprise", "grants", "daily_cap", "send_window"}
        changes = {k: v for k, v in fields.items() if v is not None and k in allowed}
        if "grants" in changes:
            changes["grants"] = ",".join(sorted(set(changes["grants"])))  # type: ignore[arg-type]
        with self._transaction():
            self.require_project(project_id)
            for column, value in changes.items():
                self.db.execute(f"UPDATE projects SET {column}=? WHERE id=?", (value, project_id))
            self._bump(project_id)
        return self.require_project(project_id)

    def _bump(self, project_id: str) -> None:
        """Every admin change bumps the project's version: the API's caches key on it."""
        self.db.execute("UPDATE projects SET version=version+1 WHERE id=?", (project_id,))

    # --- access keys and tokens ---------------------------------------------------------------

    def add_access_key(self, project_id: str, access_key: str, sealed_secret: bytes) -> None:
        with self._transaction():
            self.require_project(project_id)
            self.db.execute(
                "INSERT INTO access_keys (access_key, project_id, secret_enc, created_at)"
                " VALUES (?,?,?,?)",
                (access_key, project_id, sealed_secret, now_ms()),
            )
            self._bump(project_id)

    def revoke_access_key(self, access_key: str) -> bool:
        """Revoke a live key, and with it the tokens minted with it.  Tokens kept from before
        schema 5 do not say which key minted them: those of the key's project end too."""
        at = now_ms()
        with self._transaction():
            row = self.db.execute(
                "SELECT project_id FROM access_keys WHERE access_key=? AND revoked_at IS NULL",
                (access_key,),
            ).fetchone()
            if row is None:
                return False
            self.db.execute(
                "UPDATE access_keys SET revoked_at=? WHERE access_key=?", (at, access_key)
            )
            self.db.execute(
                "UPDATE tokens SET revoked_at=? WHERE revoked_at IS NULL AND expires_at>?"
                " AND (access_key=? OR (project_id=? AND issued_at IS NULL))",
                (at, at, access_key, row[0]),
            )
            self._bump(row[0])
        return True

    def access_key(self, access_key: str) -> tuple[str, bytes] | None:
        """(project_id, sealed secret) of a live key."""
        row = self.db.execute(
            "SELECT project_id, secret_enc FROM access_keys"
            " WHERE access_key=? AND revoked_at IS NULL",
            (access_key,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def add_token(self, token_hash: str, project_id: str, expires_at: int,
                  access_key: str | None = None) -> str | None:
        """Keep a new token (as its hash) and return its id; ``access_key``: the key it was
        minted with (None: issued by an operator), None when that key was revoked meanwhile
        (the key's row is locked meanwhile on PostgreSQL, so a revocation either comes first
        or ends this token too)."""
        at = now_ms()
        token_id = token_hash[:16]
        with self._transaction():
            if access_key is not None:
                lock = " FOR UPDATE" if self.db.dialect == POSTGRESQL else ""
                live = self.db.execute(
                    "SELECT 1 FROM access_keys WHERE access_key=? AND revoked_at IS NULL" + lock,
                    (access_key,),
                ).fetchone()
                if live is None:
                    return None
            self.db.execute("DELETE FROM tokens WHERE expires_at < ?", (at,))
            self.db.execute(
                "INSERT INTO tokens (token_hash, id, project_id, access_key, issued_at, expires_at)"
                " VALUES (?,?,?,?,?,?)",
                (token_hash, token_id, project_id, access_key, at, expires_at),
            )
        return token_id

    def token(self, token_hash: str) -> tuple[str, int] | None:
        """(project_id, expires_at) of a token that was not revoked, expired or not."""
        row = self.db.execute(
            "SELECT project_id, expires_at FROM tokens WHERE token_hash=? AND revoked_at IS NULL",
            (token_hash,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def tokens(self, project_id: str, now: int) -> list[TokenRow]:
        """The project's tokens that have not expired yet (revoked ones included), newest
        first."""
        rows = self.db.execute(
            "SELECT id, access_key, issued_at, expires_at, revoked_at FROM tokens"
            " WHERE project_id=? AND expires_at>? ORDER BY issued_at IS NULL, issued_at DESC, id",
            (project_id, now),
        ).fetchall()
        return [TokenRow(*row) for row in rows]

    def revoke_tokens(self, project_id: str, token_id: str | None = None) -> int:
        """Revoke one live token of the project (by id), or all of them (``None``); how many
        were revoked."""
        at = now_ms()
        sql = "UPDATE tokens SET revoked_at=? WHERE project_id=? AND revoked_at IS NULL AND expires_at>?"
        params: tuple = (at, project_id, at)
        if token_id is not None:
            sql, params = sql + " AND id=?", (*params, token_id)
        with self._transaction():
            self.require_project(project_id)
            return self.db.execute(sql, params).rowcount

    def sealed_secrets(self) -> list[tuple[str, bytes]]:
        """Every secret in use that is sealed with the master key, each with what it is (no
        secret in that label): live access keys' secret keys and callback signing keys."""
        rows = self.db.execute(
            "SELECT 'access key ' || access_key, secret_enc FROM access_keys WHERE revoked_at IS NULL"
            " UNION ALL SELECT 'the callback key of project ' || id, callback_secret_enc"
            " FROM projects WHERE callback_secret_enc IS NOT NULL"
        ).fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    def first_sight(self, signature: str, expires_at: int, now: int) -> bool:
        """Note a request signature until ``expires_at``; False when it was noted already (a
        replay).  Now and then, forget the signatures whose time is over.  Each statement is
        its own transaction (one round trip on PostgreSQL)."""
        if now % 64 == 0:
            self.db.execute("DELETE FROM seen_signatures WHERE expires_at<?", (now,))
        cur = self.db.execute(
            "INSERT INTO seen_signatures (signature, expires_at) VALUES (?,?)"
            " ON CONFLICT (signature) DO UPDATE SET expires_at=excluded.expires_at"
            " WHERE seen_signatures.expires_at<?",  # a row left over from an earlier window
            (signature, expires_at, now),
        )
        return cur.rowcount == 1
