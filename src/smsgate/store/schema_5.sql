-- Version 5: tokens can be revoked, and an AK/SK signature acts once.  Times are epoch
-- milliseconds (UTC).

-- A token's id (the first 16 hex digits of its hash: what operators see, never the token), the
-- access key it was minted with (NULL: issued by an operator, or before this version), when it
-- was issued (NULL: before this version) and when it was revoked.
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN access_key TEXT;
ALTER TABLE tokens ADD COLUMN issued_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
UPDATE tokens SET id = substr(token_hash, 1, 16);
CREATE UNIQUE INDEX tokens_id ON tokens(id);
CREATE INDEX tokens_project ON tokens(project_id, expires_at);
CREATE INDEX tokens_access_key ON tokens(access_key);

-- Signatures of AK/SK requests already let in, kept while their X-Sdk-Date is in the window, so
-- that a replay is refused (when no Redis is configured; promotion calls are kept in
-- idempotent_requests instead, with their answer).
CREATE TABLE seen_signatures (
    signature   TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX seen_signatures_expiry ON seen_signatures(expires_at);

-- When a kept answer may be forgotten: a day after the batch for an X-Idempotency-Key, the end of
-- the date window for a signature's key (those are many: one per signed batch).  Indexed, so
-- that forgetting them never scans the table.
ALTER TABLE idempotent_requests ADD COLUMN expires_at INTEGER;
UPDATE idempotent_requests SET expires_at = created_at + 86400000;
CREATE INDEX idempotent_requests_expiry ON idempotent_requests(expires_at);
