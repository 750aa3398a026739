"""Replies from handsets (mobile-originated messages), and the opt-outs they ask for."""

from __future__ import annotations

from smsgate.store.db import Db
from smsgate.store.db import transaction as _transaction

__all__ = ["Replies"]


class Replies:
    """A part of :class:`~smsgate.store.delivery.DeliveryStore`."""

    db: Db

    def record_reply(self, e164: str, text: str, at: int) -> tuple[str, str, str] | None:
        """Keep a mobile-originated reply; it answers the latest message sent to that number.
        Returns (project_id, sign_id, nation_code) of that message, or None if there is none."""
        row = self.db.execute(
            "SELECT project_id, sign_id, nation_code FROM messages WHERE e164=?"
            " AND state IN ('SUBMITTED','DELIVERED','FAILED') ORDER BY seq DESC LIMIT 1",
            (e164,),
        ).fetchone()
        with _transaction(self.db):
            self.db.execute(
                "INSERT INTO replies (project_id, sign_id, e164, text, received_at) VALUES (?,?,?,?,?)",
                (row[0] if row else None, row[1] if row else None, e164, text, at),
            )
        return (row[0], row[1], row[2]) if row else None

    def opt_out(self, project_id: str, sign_id: str, e164: str, at: int) -> None:
        self.db.execute(
            "INSERT INTO optouts (project_id, e164, sign_id, created_at) VALUES (?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            (project_id, e164, sign_id, at),
        )
