"""Console operators: who may log in, and their password hashes (``console.auth`` makes and
checks the hashes; this module only keeps them)."""

from __future__ import annotations


from smsgate.domain.records import now_ms
from smsgate.store.db import Db, transaction


def operator_hash(db: Db, name: str) -> str | None:
    row = db.execute("SELECT password_hash FROM operators WHERE name=?", (name,)).fetchone()
    return row[0] if row else None


def list_operators(db: Db) -> list[tuple[str, int]]:
    return [tuple(r) for r in db.execute("SELECT name, created_at FROM operators ORDER BY name")]


def add_operator(db: Db, name: str, password_hash: str) -> bool:
    """False when an operator of that name exists already (nothing changed)."""
    with transaction(db):
        if operator_hash(db, name) is not None:
            return False
        db.execute("INSERT INTO operators (name, password_hash, created_at) VALUES (?,?,?)",
                   (name, password_hash, now_ms()))
    return True


def set_operator_password(db: Db, name: str, password_hash: str) -> bool:
    with transaction(db):
        cur = db.execute("UPDATE operators SET password_hash=? WHERE name=?", (password_hash, name))
    return cur.rowcount > 0


def delete_operator(db: Db, name: str) -> bool:
    with transaction(db):
        cur = db.execute("DELETE FROM operators WHERE name=?", (name,))
    return cur.rowcount > 0
