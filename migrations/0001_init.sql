-- Sensors, their series (one per sensor and metric) and the samples of each series.

CREATE TABLE sensors (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,   -- the sensor id devices send
    name        TEXT,                      -- display label, free text from the device
    source      TEXT    NOT NULL,          -- how its last reading arrived: http, line-protocol, push, serial
    first_seen  INTEGER NOT NULL,          -- host clock, unix ms
    last_seen   INTEGER NOT NULL
);

CREATE TABLE series (
    id                INTEGER PRIMARY KEY,
    sensor_id         INTEGER NOT NULL REFERENCES sensors (id),
    metric            TEXT    NOT NULL,
    last_value        REAL,
    last_measured_at  INTEGER,
    last_received_at  INTEGER,
    UNIQUE (sensor_id, metric)
);

-- New samples land here, ordered by time: a commit that touches many series appends to one end
-- of one b-tree instead of dirtying one index page per series.
CREATE TABLE recent_samples (
    measured_at  INTEGER NOT NULL,
    series_id    INTEGER NOT NULL,
    value        REAL    NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (measured_at, series_id)
) WITHOUT ROWID;

-- Samples older than the horizon, ordered by series for range queries. Rows move here from
-- recent_samples in bulk, sorted by series, so each series' last page is written once per move.
CREATE TABLE samples (
    series_id    INTEGER NOT NULL,
    measured_at  INTEGER NOT NULL,
    value        REAL    NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (series_id, measured_at)
) WITHOUT ROWID;

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- Every sample measured before this time (unix ms) is in `samples`, every later one in `recent_samples`.
INSERT INTO settings (key, value) VALUES ('recent_horizon', '0');
