-- Version 7: batched callback delivery (a JSON array of events per POST), opt-in per subscription;
-- the outbox is read project by project.

-- A subscription's batching: at most batch_max_events events per POST, the oldest having waited
-- at most batch_max_wait_ms for more to come.  NULL: one event per POST, as SMN posts them.
ALTER TABLE callbacks ADD COLUMN batch_max_events INTEGER;
ALTER TABLE callbacks ADD COLUMN batch_max_wait_ms INTEGER;

-- An event keeps the batching its subscription had when it was queued (as it keeps the URL).
-- batch_id: the id of the first event of the batch it was posted in, set when the batch was
-- first taken; a batch is retried whole, by its first event's row (the others follow it).
ALTER TABLE outbox ADD COLUMN batch_max_events INTEGER;
ALTER TABLE outbox ADD COLUMN batch_max_wait_ms INTEGER;
ALTER TABLE outbox ADD COLUMN batch_id INTEGER;
CREATE INDEX outbox_batch ON outbox(batch_id) WHERE batch_id IS NOT NULL;

-- Events are taken per project, each project's oldest first (a slow customer's backlog is not
-- in the others' way); the projects with events waiting are found by probing this index.
CREATE INDEX outbox_waiting ON outbox(state, project_id, next_attempt_at);
DROP INDEX outbox_due;
