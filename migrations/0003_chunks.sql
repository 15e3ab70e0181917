-- Sealed chunks: a series' samples for one hour packed into a few bytes each (see
-- clima_model::chunk). Hours that ended more than an hour ago move here from `samples`; a late
-- sample for a sealed hour waits in `samples` until the next seal merges it in.

CREATE TABLE chunks (
    series_id  INTEGER NOT NULL,
    start      INTEGER NOT NULL,   -- start of the hour, unix ms
    count      INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (series_id, start)
) WITHOUT ROWID;
