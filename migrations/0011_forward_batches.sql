-- Forwarding, cheaper: the forward log holds a row per commit (at most 20,000 values each) with
-- the values the commit stored packed in one blob (`clima_model::forward::pack`: series id,
-- measured time, value), instead of a row per value. Every value keeps a number, counted across
-- rows and never reused (AUTOINCREMENT keeps the largest ever given, so a gap after a cursor is
-- exactly what retention removed): a row holds the values numbered `last - count + 1` to
-- `last`. A forwarder's cursor in `forwarders` is, as before, the number of the last value its
-- target acknowledged. The old log's entries are moved over by the migration's Rust step
-- (`store::outbox::convert_log`) with their numbers, so a pending backlog is still delivered.

CREATE TABLE forward_batches (
    last     INTEGER PRIMARY KEY AUTOINCREMENT,   -- the number of its last value
    count    INTEGER NOT NULL,
    newest   INTEGER NOT NULL,                    -- its newest measured time (unix ms), for retention
    entries  BLOB    NOT NULL
);
