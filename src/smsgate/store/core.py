"""The store of record: projects, keys, signatures, lexicon, opt-outs and the accept path.

:class:`Store` holds the SQL once for both engines (see ``store.db``); ``store.sqlite`` and
``store.postgres`` open a connection of their kind and bring its schema up to date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smsgate.domain import caps as cap_rule
from smsgate.domain import errors
from smsgate.domain.records import (
    NewMessage,
    Project,
    Sign,
    SignStatus,
    SignType,
    new_id,
    now_ms,
)
from smsgate.store.db import POSTGRESQL, Db, rollback, transaction

if TYPE_CHECKING:
    from smsgate.limits.caps import Caps

MAX_SIGNS_PER_PROJECT = 10
IDEMPOTENCY_TTL_MS = 24 * 3_600_000  # a retried batch is recognised for a day

_PROJECT_COLUMNS = "id, name, enterprise, grants, daily_cap, send_window, version, created_at"
_SIGN_COLUMNS = "id, project_id, name, type, status, reply, created_at"
_MESSAGE_COLUMNS = ("id", "project_id", "sign_id", "request_id", "e164", "nation_code", "text",
                    "fee_num", "extend_code", "extend_src_id", "state", "accepted_at")


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


def _sign(row: tuple) -> Sign:
    return Sign(row[0], row[1], row[2], SignType(row[3]), SignStatus(row[4]), row[5], row[6])


class Store:
    def __init__(self, db: Db) -> None:
        self.db = db
        self._reserved: tuple[Caps, str, str, dict[str, int]] | None = None

    def close(self) -> None:
        self.db.close()

    def _transaction(self) -> AbstractContextManager[None]:
        return transaction(self.db)

    def ping(self) -> bool:
        return self.db.execute("SELECT 1").fetchone() == (1,)

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
            touched = sorted({row[4] for row in rows})
            self.db.executemany(
                "INSERT INTO daily_counts (project_id, e164, day, n) VALUES (?,?,?,?)"
                " ON CONFLICT (project_id, e164, day) DO UPDATE SET n=excluded.n",
                [(project_id, e164, day, counts[e164]) for e164 in touched],
            )
        return outcomes

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

