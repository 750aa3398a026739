"""The customer's report of its messages (``GET /sms/report``): a filtered page of them, or one."""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.domain.states import REPORT_STATES
from smsgate.store.db import Db

__all__ = ["CustomerReports", "ReportQuery", "ReportRow"]

_REPORT_COLUMNS = (
    "id, state, sign_id, status_desc, fee_num, extend_code, nation_code, e164, submitted_at,"
    " done_at, accepted_at"
)



@dataclass(frozen=True, slots=True)
class ReportQuery:
    start: int
    end: int
    sign_id: str | None = None
    message_id: str | None = None
    e164: str | None = None
    status: int | None = None
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ReportRow:
    message_id: str
    state: str
    sign_id: str
    status_desc: str | None
    fee_num: int
    extend_code: str | None
    nation_code: str
    e164: str
    submitted_at: int | None
    done_at: int | None
    accepted_at: int

    @property
    def status(self) -> int:
        return next(code for code, states in REPORT_STATES.items() if self.state in states)


class CustomerReports:
    """A part of :class:`~smsgate.store.delivery.DeliveryStore`."""

    db: Db

    def report(self, project_id: str, query: ReportQuery) -> tuple[int, list[ReportRow]]:
        """(how many match, the page asked for), newest first."""
        where, params = ["project_id=?", "accepted_at>=?", "accepted_at<?"], [project_id, query.start, query.end]
        for column, value in (("sign_id", query.sign_id), ("id", query.message_id), ("e164", query.e164)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if query.status is not None:
            states = REPORT_STATES[query.status]
            where.append(f"state IN ({','.join('?' * len(states))})")
            params += states
        clause = " AND ".join(where)
        count = self.db.execute(f"SELECT count(*) FROM messages WHERE {clause}", params).fetchone()[0]
        rows = self.db.execute(
            f"SELECT {_REPORT_COLUMNS} FROM messages WHERE {clause}"
            " ORDER BY accepted_at DESC, seq DESC LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        ).fetchall()
        return count, [ReportRow(*row) for row in rows]

    def report_row(self, project_id: str, message_id: str) -> ReportRow | None:
        row = self.db.execute(
            f"SELECT {_REPORT_COLUMNS} FROM messages WHERE id=? AND project_id=?",
            (message_id, project_id),
        ).fetchone()
        return ReportRow(*row) if row else None
