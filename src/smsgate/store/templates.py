"""SMS templates (SPEC §4): created by the customer, reviewed by an operator, deleted by either.

Module functions over a :class:`~smsgate.store.db.Db`, as ``store.optouts`` has them; the API
runs the writing ones on its writer (``AppState.write``).  Templates are read per call, not
cached with the project: a review takes effect on the next call without a version bump.
"""

from __future__ import annotations

from smsgate.domain import errors
from smsgate.domain.records import Template, TemplateStatus, TemplateType, new_id, now_ms
from smsgate.domain.templates import MAX_TEMPLATES_PER_PROJECT
from smsgate.store.db import POSTGRESQL, Db, transaction

_COLUMNS = "id, project_id, name, type, content, remark, status, reply, created_at"


def _template(row: tuple) -> Template:
    return Template(row[0], row[1], row[2], TemplateType(row[3]), row[4], row[5],
                    TemplateStatus(row[6]), row[7], row[8])


def create(db: Db, project_id: str, name: str, kind: TemplateType, content: str,
           remark: str) -> Template:
    """A new template, pending review; at most 100 a project (SMN.0152), names unique within
    the project (SMN.0156).  On PostgreSQL the project's row is locked meanwhile, so that two
    API processes cannot both take the last place."""
    template = Template(new_id(), project_id, name, kind, content, remark, TemplateStatus.PENDING,
                        "", now_ms())
    with transaction(db):
        lock = " FOR UPDATE" if db.dialect == POSTGRESQL else ""
        if db.execute("SELECT 1 FROM projects WHERE id=?" + lock, (project_id,)).fetchone() is None:
            raise errors.ProjectNotFound(f"Project {project_id} does not exist.")
        names = [r[0] for r in db.execute("SELECT name FROM sms_templates WHERE project_id=?",
                                          (project_id,)).fetchall()]
        if len(names) >= MAX_TEMPLATES_PER_PROJECT:
            raise errors.TemplateQuotaReached()
        if name in names:
            raise errors.TemplateNameInvalid(f"Parameter: sms_template_name {name!r} already exists.")
        db.execute(
            f"INSERT INTO sms_templates ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            (template.id, project_id, name, int(kind), content, remark, int(template.status), "",
             template.created_at),
        )
    return template


def get(db: Db, project_id: str, template_id: str) -> Template:
    """The project's template, or SMN.0162."""
    row = db.execute(f"SELECT {_COLUMNS} FROM sms_templates WHERE id=? AND project_id=?",
                     (template_id, project_id)).fetchone()
    if row is None:
        raise errors.TemplateNotFound()
    return _template(row)


def page(db: Db, project_id: str, *, name: str | None = None, kind: TemplateType | None = None,
         status: TemplateStatus | None = None, limit: int = 100,
         offset: int = 0) -> tuple[int, list[Template]]:
    """How many of the project's templates match, and the page of them, oldest first."""
    where: list[str] = ["project_id=?"]
    params: list[object] = [project_id]
    for column, value in (("name", name), ("type", kind), ("status", status)):
        if value is not None:
            where.append(f"{column}=?")
            params.append(value if isinstance(value, str) else int(value))
    clause = " AND ".join(where)
    count = db.execute(f"SELECT count(*) FROM sms_templates WHERE {clause}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM sms_templates WHERE {clause} ORDER BY created_at, id"
        " LIMIT ? OFFSET ?", [*params, limit, offset],
    ).fetchall()
    return count, [_template(r) for r in rows]


def review_queue(db: Db, project_id: str | None, status: TemplateStatus | None,
                 limit: int, offset: int) -> tuple[int, list[tuple[Template, str]]]:
    """Templates of every project (or one), oldest first, each with its project's name: what
    an operator reviews."""
    where: list[str] = ["1=1"]
    params: list[object] = []
    if project_id:
        where.append("t.project_id=?")
        params.append(project_id)
    if status is not None:
        where.append("t.status=?")
        params.append(int(status))
    clause = " AND ".join(where)
    count = db.execute(f"SELECT count(*) FROM sms_templates t WHERE {clause}", params).fetchone()[0]
    columns = ", ".join(f"t.{c.strip()}" for c in _COLUMNS.split(","))
    rows = db.execute(
        f"SELECT {columns}, p.name FROM sms_templates t JOIN projects p ON p.id=t.project_id"
        f" WHERE {clause} ORDER BY t.created_at, t.id LIMIT ? OFFSET ?", [*params, limit, offset],
    ).fetchall()
    return count, [(_template(r[:-1]), r[-1]) for r in rows]


def set_status(db: Db, project_id: str, template_id: str, status: TemplateStatus,
               reply: str = "") -> Template:
    """Approve or reject (with the reason the customer reads in ``reply``)."""
    with transaction(db):
        get(db, project_id, template_id)
        db.execute("UPDATE sms_templates SET status=?, reply=? WHERE id=? AND project_id=?",
                   (int(status), reply, template_id, project_id))
    return get(db, project_id, template_id)


def delete(db: Db, project_id: str, template_id: str) -> None:
    """Delete the template (SMN.0162 when there is none); the messages already accepted with
    it keep their text and still go out."""
    with transaction(db):
        cur = db.execute("DELETE FROM sms_templates WHERE id=? AND project_id=?",
                         (template_id, project_id))
    if cur.rowcount == 0:
        raise errors.TemplateNotFound()
