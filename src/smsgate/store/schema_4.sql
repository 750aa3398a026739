-- Version 4: an idempotency key names one request.  Times are epoch milliseconds (UTC).

-- SHA-256 of the body the answer was for: the same key with another body is refused, never
-- answered with the first request's results.  NULL for answers kept before this version.
ALTER TABLE idempotent_requests ADD COLUMN fingerprint TEXT;
