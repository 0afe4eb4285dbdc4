-- tessera's schema, version 9: the audit log.
--
-- What administrators did, one row per action, in the shape of every
-- record table (so `tessera store copy` moves it): `id` is the record's
-- time in microseconds (big-endian) followed by 8 random bytes, so key
-- order is time order and every node of a cluster inserts its own rows
-- without coordinating. Listings read it newest first by `id`; the
-- retention sweep deletes by `id` too (`[audit] keep_days`, `keep_rows`).
-- The log is never held in memory, so its rows are not on the change feed.

CREATE TABLE audit_log (LIKE keys INCLUDING ALL);
