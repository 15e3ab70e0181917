-- Minute rollups move from one row per series and minute (about 45 bytes each, more than the
-- samples they sum for a sensor slower than a few seconds) to one row per series and hour,
-- its minutes packed in a blob (`clima_model::rollup`). Only hours whose samples are frequent
-- enough get them; the others are read from their chunks. A rowid table, as for chunks, so a
-- blob over about 1,000 bytes stays in its leaf page.
--
-- Hour rollups are packed too, one blob per series and day in `hour_rollups`, once their hour
-- is sealed; `rollup_hour` keeps the rows of hours still open (the rows and the blobs together
-- sum every sample once).
--
-- The rows are packed by the migration's second step, in Rust (`store::layout`'s
-- `pack_minute_rollups`, which then drops `rollup_minute`, and `pack_hour_rollups`).

CREATE TABLE minute_rollups (
    series_id  INTEGER NOT NULL,
    hour       INTEGER NOT NULL,   -- start of the hour, unix ms
    data       BLOB    NOT NULL
);
CREATE UNIQUE INDEX minute_rollups_key ON minute_rollups (series_id, hour);

CREATE TABLE hour_rollups (
    series_id  INTEGER NOT NULL,
    day        INTEGER NOT NULL,   -- start of the UTC day, unix ms
    data       BLOB    NOT NULL
);
CREATE UNIQUE INDEX hour_rollups_key ON hour_rollups (series_id, day);
