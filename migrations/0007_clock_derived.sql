-- Each sensor's last observed pair of clocks (see clima_model::clock): the device's time of the
-- newest value in its latest receipt, that receipt's time, and whether the receipt held values
-- of several times (a backlog). Null until the sensor's next reading.

ALTER TABLE sensors ADD COLUMN clock_measured_at INTEGER;
ALTER TABLE sensors ADD COLUMN clock_received_at INTEGER;
ALTER TABLE sensors ADD COLUMN clock_backlog INTEGER;

-- Whether a series' latest value was derived by Clima (dew point, absolute humidity from
-- temperature and humidity) rather than sent by the device.
ALTER TABLE series ADD COLUMN derived INTEGER NOT NULL DEFAULT 0;
