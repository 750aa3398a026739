-- Version 3: many processes.  Times are epoch milliseconds (UTC).

-- The worker holding a SENDING message's lease: only it may renew the lease.
ALTER TABLE messages ADD COLUMN owner TEXT;

-- Which message an outbox event reports (a message's history shows its callbacks).
ALTER TABLE outbox ADD COLUMN message_id TEXT;
CREATE INDEX outbox_message ON outbox(message_id);

-- An SMPP bind slot of a channel is owned by one worker at a time, while its lease lasts.
CREATE TABLE bind_leases (
    channel     TEXT NOT NULL,
    slot        INTEGER NOT NULL,
    owner       TEXT NOT NULL,
    lease_until INTEGER NOT NULL,
    PRIMARY KEY (channel, slot)
);

-- The answer to a batch sent with an X-Idempotency-Key: a retried request gets it again
-- instead of sending its messages twice.  Written in the batch's own transaction.
CREATE TABLE idempotent_requests (
    project_id  TEXT NOT NULL,
    key         TEXT NOT NULL,
    response    BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (project_id, key)
);

-- Console operators (passwords as scrypt hashes).
CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
