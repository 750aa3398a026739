"""Store writes the console needs and the store does not have yet.

Each runs on the writer thread through ``AppState.write`` and is one transaction; SQL is
portable (``?`` placeholders, nothing SQLite-only) for the PostgreSQL wrapper to come.
"""

from __future__ import annotations

from smsgate.domain import errors
from smsgate.domain.records import Project
from smsgate.store.core import Store
from smsgate.store.db import Db, transaction

#: settings a project may take back to the service default (NULL)
RESETTABLE = ("daily_cap", "send_window")


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


def remove_optout(db: Db, project_id: str, sign_id: str, e164: str) -> bool:
    """Let a number receive a signature's promotional SMS again."""
    with transaction(db):
        cur = db.execute("DELETE FROM optouts WHERE project_id=? AND sign_id=? AND e164=?",
                         (project_id, sign_id, e164))
    return cur.rowcount > 0
