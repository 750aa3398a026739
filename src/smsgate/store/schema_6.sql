-- Version 6: a carrier's id names one part.  Times are epoch milliseconds (UTC).
--
-- Version 2 kept every spelling an id might have (its hex and its decimal reading) in
-- carrier_ids, keyed by the spelling alone, so the decimal alias of one part's id ("10" -> "a")
-- overwrote another part's entry and its receipt went to the wrong message.  Now each part
-- keeps the id submit_sm_resp gave it, once, beside its channel and the key it is found under
-- (lower case, no 0x, no leading zeros; smsgate.domain.carrier_ids.id_key), and receipts are
-- matched by smsgate.domain.carrier_ids.
ALTER TABLE message_parts ADD COLUMN channel TEXT;
ALTER TABLE message_parts ADD COLUMN id_key TEXT;

-- Parts still waiting for their receipt go on being matched after the upgrade: their channel
-- comes from their message (or from carrier_ids while the message is still being sent), and
-- their key is written in SQL as id_key writes it.
UPDATE message_parts SET
    channel=coalesce((SELECT m.channel FROM messages m WHERE m.id=message_parts.message_id),
                     (SELECT c.channel FROM carrier_ids c WHERE c.message_id=message_parts.message_id
                      AND c.idx=message_parts.idx LIMIT 1)),
    id_key=lower(trim(carrier_id))
WHERE stat IS NULL AND carrier_id IS NOT NULL;
UPDATE message_parts SET id_key=substr(id_key, 3)
WHERE stat IS NULL AND id_key LIKE '0x%' AND length(id_key) > 2
  AND ltrim(substr(id_key, 3), '0123456789abcdef')='';
UPDATE message_parts SET id_key=CASE WHEN ltrim(id_key, '0')<>'' THEN ltrim(id_key, '0') ELSE '0' END
WHERE stat IS NULL AND id_key<>'';
-- Open parts by key (stat IS NULL: one index range per key, however often a carrier reuses
-- its ids), and parts that have their receipt (a receipt repeated later is a duplicate).
CREATE INDEX message_parts_carrier_id ON message_parts(channel, id_key, stat);
DROP TABLE carrier_ids;

-- Receipts that named no open part when they came (their part not yet recorded, or named
-- in another base): one row under each key their part may be found under.  Receipts kept by
-- version 2 are dropped: their keys were the aliases above, and any part they named was
-- recorded before the upgrade.
DROP TABLE orphan_receipts;
CREATE TABLE orphan_receipts (
    channel     TEXT NOT NULL,
    key         TEXT NOT NULL,              -- one of carrier_ids.lookup_keys(carrier_id, id_format)
    receipt     INTEGER NOT NULL,           -- rows of one receipt share it
    id_key      TEXT NOT NULL,              -- the receipt's own key (the row with key=id_key)
    carrier_id  TEXT NOT NULL,              -- the id as the receipt spelt it
    id_format   TEXT NOT NULL,              -- the channel's receipt_id_format when it came
    stat        TEXT NOT NULL,
    err         TEXT,
    done_at     INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    check_at    INTEGER,                    -- when every reading is tried; NULL once it was
    PRIMARY KEY (channel, key, receipt)
) WITHOUT ROWID;
CREATE INDEX orphan_receipts_age ON orphan_receipts(received_at);
CREATE INDEX orphan_receipts_check ON orphan_receipts(check_at);
