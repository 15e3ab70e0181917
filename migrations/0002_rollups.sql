-- Minute and hour rollups per series: the sum, min, max and count of the samples in each
-- period, so that long ranges read one row per period instead of every sample.
-- They cover exactly the samples in `samples`; samples still in `recent_samples` are added
-- when the writer moves them.

CREATE TABLE rollup_minute (
    series_id  INTEGER NOT NULL,
    t          INTEGER NOT NULL,   -- start of the minute, unix ms
    sum        REAL    NOT NULL,
    min        REAL    NOT NULL,
    max        REAL    NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)
) WITHOUT ROWID;

CREATE TABLE rollup_hour (
    series_id  INTEGER NOT NULL,
    t          INTEGER NOT NULL,   -- start of the hour, unix ms
    sum        REAL    NOT NULL,
    min        REAL    NOT NULL,
    max        REAL    NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)
) WITHOUT ROWID;

INSERT INTO rollup_minute (series_id, t, sum, min, max, count)
    SELECT series_id, measured_at - measured_at % 60000, total(value), min(value), max(value), count(*)
    FROM samples GROUP BY 1, 2;

INSERT INTO rollup_hour (series_id, t, sum, min, max, count)
    SELECT series_id, t - t % 3600000, total(sum), min(min), max(max), sum(count)
    FROM rollup_minute GROUP BY 1, 2;
