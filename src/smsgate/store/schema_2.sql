-- Version 2: delivery.  Message states QUEUED -> SENDING -> SUBMITTED -> DELIVERED | FAILED |
-- EXPIRED.  SENDING is a lease: a dispatcher owns the message until lease_until, after which
-- another may take it over.  Times are epoch milliseconds (UTC).

ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN lease_until INTEGER;
ALTER TABLE messages ADD COLUMN channel TEXT;
ALTER TABLE messages ADD COLUMN submitted_at INTEGER;
ALTER TABLE messages ADD COLUMN done_at INTEGER;
ALTER TABLE messages ADD COLUMN status_desc TEXT;              -- DELIVRD, UNDELIV, ... or our reason
DROP INDEX messages_state;
CREATE INDEX messages_due ON messages(state, next_attempt_at, seq);
CREATE INDEX messages_e164 ON messages(e164, seq);

-- One row per SMS part: what the SMSC answered for it and what its receipt said.
CREATE TABLE message_parts (
    message_id  TEXT NOT NULL,
    idx         INTEGER NOT NULL,              -- 1-based
    total       INTEGER NOT NULL,
    carrier_id  TEXT,                          -- as the SMSC wrote it in submit_sm_resp
    stat        TEXT,                          -- receipt stat word once known
    err         TEXT,
    submitted_at INTEGER,
    done_at     INTEGER,
    PRIMARY KEY (message_id, idx)
) WITHOUT ROWID;

-- Every key a carrier id may be spelt as (see smpp.dlr.id_keys) -> the part it names.
CREATE TABLE carrier_ids (
    channel     TEXT NOT NULL,
    key         TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    PRIMARY KEY (channel, key)
) WITHOUT ROWID;

-- Callback subscriptions (SPEC §4): topic_urn may be an http(s) URL we post events to.
CREATE TABLE callbacks (
    project_id  TEXT NOT NULL,
    event_type  TEXT NOT NULL,                 -- sms_success_event, sms_fail_event, sms_reply_event
    topic_urn   TEXT NOT NULL,
    PRIMARY KEY (project_id, event_type)
) WITHOUT ROWID;

-- Events waiting to be posted (the persisted outbox: a restart loses none).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    project_id      TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            BLOB NOT NULL,             -- the JSON posted
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    state           TEXT NOT NULL,             -- PENDING, DONE, FAILED
    last_error      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);

-- Mobile-originated replies.
CREATE TABLE replies (
    id          INTEGER PRIMARY KEY,
    project_id  TEXT,
    sign_id     TEXT,
    e164        TEXT NOT NULL,
    text        TEXT NOT NULL,
    received_at INTEGER NOT NULL
);

-- The key a project's callbacks are signed with (HMAC-SHA256), Fernet-encrypted like secret keys.
ALTER TABLE projects ADD COLUMN callback_secret_enc BLOB;

-- Receipts that arrived before the submit_sm_resp of their part was stored (a fast SMSC beats
-- our batched writes); matched again after every write of parts, kept for a week at most.
CREATE TABLE orphan_receipts (
    channel     TEXT NOT NULL,
    key         TEXT NOT NULL,
    receipt     INTEGER NOT NULL,              -- rows of one receipt (one per id key) share it
    stat        TEXT NOT NULL,
    err         TEXT,
    done_at     INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (channel, key, receipt)
) WITHOUT ROWID;
CREATE INDEX orphan_receipts_age ON orphan_receipts(received_at);
