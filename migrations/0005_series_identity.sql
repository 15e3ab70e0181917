-- Line-protocol series identity: each (measurement, tag set) is its own sensor. `series_key` is
-- the series in canonical line-protocol form (tags sorted, escaped), unique among sensors that
-- have one; `series_tags` is the same as JSON ({"measurement": ..., "tags": {...}}), shown with
-- the sensor. Sensors from other
-- formats, and those written before this version, have neither: the first series whose readable
-- id is such a sensor's key takes it over (see the writer's sensor lookup).

ALTER TABLE sensors ADD COLUMN series_key TEXT;
ALTER TABLE sensors ADD COLUMN series_tags TEXT;
CREATE UNIQUE INDEX sensors_series_key ON sensors (series_key) WHERE series_key IS NOT NULL;
