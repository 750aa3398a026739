"""Projects as operators see and change them beyond :class:`~smsgate.store.core.Store`: the
overview of every project, a project's access keys (live and revoked), and settings put back to
the service default."""

from __future__ import annotations

from smsgate.domain import errors
from smsgate.domain.records import Project, SignStatus
from smsgate.store.core import Store
from smsgate.store.db import Db, transaction
from smsgate.store.history import dicts

#: settings a project may take back to the service default (NULL)
RESETTABLE = ("daily_cap", "send_window")


def overview(db: Db) -> list[dict]:
    """Every project, oldest first, with how many live signatures and access keys it has."""
    rows = dicts(db.execute(
        "SELECT id, name, enterprise, grants, daily_cap, send_window, created_at"
        " FROM projects ORDER BY created_at, id"
    ))
    signs = dict(db.execute(
        "SELECT project_id, count(*) FROM signs WHERE status<>? GROUP BY project_id",
        (int(SignStatus.DELETED),),
    ).fetchall())
    keys = dict(db.execute(
        "SELECT project_id, count(*) FROM access_keys WHERE revoked_at IS NULL GROUP BY project_id"
    ).fetchall())
    for row in rows:
        row["enterprise"] = bool(row["enterprise"])
        row["grants"] = [g for g in row["grants"].split(",") if g]
        row["signs"] = signs.get(row["id"], 0)
        row["keys"] = keys.get(row["id"], 0)
    return rows


def access_keys(db: Db, project_id: str) -> list[dict]:
    """The project's access keys, revoked ones too (never their secrets)."""
    return dicts(db.execute(
        "SELECT access_key, created_at, revoked_at FROM access_keys WHERE project_id=?"
        " ORDER BY created_at, access_key",
        (project_id,),
    ))


def key_project(db: Db, access_key: str) -> str | None:
    """The project an access key (live or revoked) belongs to."""
    row = db.execute("SELECT project_id FROM access_keys WHERE access_key=?", (access_key,)).fetchone()
    return row[0] if row else None


def edit_project(store: Store, project_id: str, changes: dict[str, object],
                 reset: tuple[str, ...]) -> Project:
    """Set the given fields (``Store.update_project``) and put those in ``reset`` back to
    the service default, in one transaction (one version bump or two: caches reload either
    way)."""
    with transaction(store.db):
        store.require_project(project_id)
        for column in reset:
            if column not in RESETTABLE:
                raise errors.BadRequest(f"{column} cannot be reset")
            store.db.execute(f"UPDATE projects SET {column}=NULL WHERE id=?", (project_id,))
        if reset:
            store.db.execute("UPDATE projects SET version=version+1 WHERE id=?", (project_id,))
        return store.update_project(project_id, **changes)
