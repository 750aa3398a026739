"""Opt-outs as operators see them: a project's list, filtered and paged, and taking a number
off it (``Store.add_optouts`` and the receipts' reply words put numbers on it)."""

from __future__ import annotations

from smsgate.store.db import Db, transaction
from smsgate.store.history import dicts


def page(db: Db, project_id: str, sign_id: str | None, e164: str | None,
         limit: int, offset: int) -> tuple[int, list[dict]]:
    """How many opt-outs match, and the page of them, newest first (with the signature's
    name)."""
    where, params = ["o.project_id=?"], [project_id]
    if sign_id:
        where.append("o.sign_id=?")
        params.append(sign_id)
    if e164:
        where.append("o.e164=?")
        params.append(e164)
    clause = " AND ".join(where)
    count = db.execute(f"SELECT count(*) FROM optouts o WHERE {clause}", params).fetchone()[0]
    rows = dicts(db.execute(
        "SELECT o.e164, o.sign_id, s.name AS sign_name, o.created_at FROM optouts o"
        f" LEFT JOIN signs s ON s.id=o.sign_id WHERE {clause}"
        " ORDER BY o.created_at DESC, o.e164 LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ))
    return count, rows


def remove(db: Db, project_id: str, sign_id: str, e164: str) -> bool:
    """Let a number receive a signature's promotional SMS again; False when it had not opted
    out."""
    with transaction(db):
        cur = db.execute("DELETE FROM optouts WHERE project_id=? AND sign_id=? AND e164=?",
                         (project_id, sign_id, e164))
    return cur.rowcount > 0
