-- Version 8: SMS templates (SPEC §4): a fixed text, reviewed once, sent to many numbers with the
-- call's signature.  A deleted template's row is gone; the messages sent with it keep their text.

CREATE TABLE sms_templates (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    type        INTEGER NOT NULL,              -- 0 notification, 1 promotional
    content     TEXT NOT NULL,                 -- without the signature
    remark      TEXT NOT NULL DEFAULT '',
    status      INTEGER NOT NULL,              -- 0 pending, 3 approved, 4 rejected
    reply       TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sms_templates_project ON sms_templates(project_id, created_at);
