//! Read-only queries over the store: the sensor list with latest values, latest values for a
//! resync, and downsampled ranges. Runs on a small pool of read connections beside the writer.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clima_model::calibration::Calibration;
use clima_model::clock::Clock;
use clima_model::derive::same_times;
use clima_model::downsample::{assemble, Bucket, BucketPlan, Partial};
use clima_model::metric::unit_of;
use clima_model::{Millis, HOUR, MINUTE};
use rusqlite::{Connection, OptionalExtension};

use super::export::{data_span, hour_samples};
use super::layout::{unpack, unpack_periods, HOUR_ROLLUPS};
use super::{open_reader, StoreError};
use crate::hub::LiveSample;

/// Idle read connections kept for reuse. An idle one holds no page cache (see [`Reader::with`]).
const POOL_SIZE: usize = 8;

/// A sensor as the dashboard lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SensorInfo {
    pub sensor: String,
    pub name: Option<String>,
    pub source: String,
    /// For a line-protocol series, its measurement and whole tag set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<serde_json::Value>,
    /// The name the user gave it on the dashboard, which stands before `name` (the API sets it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Kept off the dashboard by the user; still collected (the API sets it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// The last observed pair of clocks (device and receipt); none before the sensor's first
    /// reading under schema version 6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock: Option<Clock>,
    pub metrics: Vec<MetricLatest>,
}

/// A metric's latest value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricLatest {
    pub metric: String,
    pub unit: Option<&'static str>,
    pub value: Option<f64>,
    pub measured_at: Option<Millis>,
    pub received_at: Option<Millis>,
    /// The latest value was derived by Clima, not sent by the device.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    /// The calibration `value` has been read through, if any (the API sets it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// The id of a sensor's series for `metric`, if it has one.
pub(super) fn series_id(
    c: &Connection,
    sensor: &str,
    metric: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(c.prepare_cached("SELECT m.id FROM series m JOIN sensors s ON s.id = m.sensor_id WHERE s.key = ?1 AND m.metric = ?2")?
        .query_row((sensor, metric), |r| r.get(0))
        .optional()?)
}

/// Runs queries on pooled read-only connections.
pub struct Reader {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Reader {
    pub fn new(path: PathBuf) -> Self {
        Reader {
            path,
            pool: Mutex::new(Vec::new()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.pool.lock().expect("reader pool").pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        let out = f(&conn);
        // An idle connection's cached pages are dropped anyway at its next read when a commit
        // came in between, as one does every second under ingest: let go of them now, so the
        // pool holds only what running queries use (up to `READER_CACHE_KIB` each), not every
        // connection's last query for good.
        if let Err(e) = conn.release_memory() {
            tracing::debug!(error = %e, "a pooled reader kept its page cache");
        }
        let mut pool = self.pool.lock().expect("reader pool");
        if pool.len() < POOL_SIZE {
            pool.push(conn);
        }
        out
    }

    /// Every sensor with its latest value per metric, by sensor id.
    pub fn sensors(&self) -> Result<Vec<SensorInfo>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.key, s.name, s.source, s.first_seen, s.last_seen,
                        m.metric, m.last_value, m.last_measured_at, m.last_received_at, s.series_tags,
                        s.clock_measured_at, s.clock_received_at, s.clock_backlog, m.derived
                 FROM sensors s LEFT JOIN series m ON m.sensor_id = s.id
                 ORDER BY s.key, m.metric",
            )?;
            let mut rows = stmt.query([])?;
            let mut out: Vec<SensorInfo> = Vec::new();
            while let Some(r) = rows.next()? {
                let key: String = r.get(0)?;
                if out.last().is_none_or(|s| s.sensor != key) {
                    out.push(SensorInfo {
                        sensor: key,
                        name: r.get(1)?,
                        source: r.get(2)?,
                        series: r
                            .get::<_, Option<String>>(9)?
                            .and_then(|t| serde_json::from_str(&t).ok()),
                        display_name: None,
                        hidden: false,
                        first_seen: r.get(3)?,
                        last_seen: r.get(4)?,
                        clock: match (r.get(10)?, r.get(11)?) {
                            (Some(measured), Some(received)) => {
                                Some(Clock::new(measured, received, r.get(12)?))
                            }
                            _ => None,
                        },
                        metrics: Vec::new(),
                    });
                }
                if let Some(metric) = r.get::<_, Option<String>>(5)? {
                    let unit = unit_of(&metric);
                    out.last_mut()
                        .expect("pushed above")
                        .metrics
                        .push(MetricLatest {
                            metric,
                            unit,
                            value: r.get(6)?,
                            measured_at: r.get(7)?,
                            received_at: r.get(8)?,
                            derived: r.get::<_, Option<bool>>(13)?.unwrap_or(false),
                            calibration: None,
                        });
                }
            }
            Ok(out)
        })
    }

    /// Settings whose key starts with `prefix`, with the prefix removed.
    pub fn settings(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT key, value FROM settings WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key")?;
            let rows = stmt.query_map([prefix], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (k, v) = row?;
                out.push((k[prefix.len()..].to_owned(), v));
            }
            Ok(out)
        })
    }

    /// The latest value of every series, as live samples (for a subscriber that fell behind).
    pub fn latest(&self) -> Result<Vec<LiveSample>, StoreError> {
        Ok(self
            .sensors()?
            .into_iter()
            .flat_map(|s| {
                let (sensor, name, clock) = (s.sensor, s.name, s.clock);
                s.metrics.into_iter().filter_map(move |m| {
                    Some(LiveSample {
                        sensor: sensor.clone(),
                        name: name.clone(),
                        unit: m.unit,
                        value: m.value?,
                        measured_at: m.measured_at?,
                        received_at: m.received_at?,
                        clock,
                        derived: m.derived,
                        metric: m.metric,
                    })
                })
            })
            .collect())
    }

    /// Downsamples one series over the plan; `None` if the sensor has no such metric.
    pub fn range(
        &self,
        sensor: &str,
        metric: &str,
        plan: &BucketPlan,
    ) -> Result<Option<Vec<Bucket>>, StoreError> {
        self.with(|c| {
            let Some(series) = series_id(c, sensor, metric)? else { return Ok(None) };
            // The coarsest level whose periods fit the buckets. Hour rollups (packed per day
            // once sealed, rows while open) cover exactly what `samples`, `pieces` and `chunks`
            // hold. Minute rollups cover the sealed hours that have them, each standing for its
            // chunk; other chunks, pieces and `samples` are read raw. `recent_samples` (in none
            // of them) is added raw, so a chart has no seam.
            let by_hour = plan.width % HOUR == 0;
            let by_minute = !by_hour && plan.width % MINUTE == 0;
            let (window, mut partials) = ((series, plan.start, plan.end()), Vec::new());
            if by_minute || by_hour {
                let mut stmt = c.prepare_cached(if by_hour {
                    "SELECT data FROM hour_rollups WHERE series_id = ?1 AND day > ?2 - 86400000 AND day < ?3"
                } else {
                    "SELECT data FROM minute_rollups WHERE series_id = ?1 AND hour > ?2 - 3600000 AND hour < ?3"
                })?;
                let mut blobs = stmt.query(window)?;
                while let Some(row) = blobs.next()? {
                    let data = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
                    for m in unpack_periods(data)? {
                        partials.extend(plan.index(m.start).map(|i| (i, m.partial)));
                    }
                }
            }
            if !by_hour {
                // Packed hours are in chunks and pieces, each within one hour.
                let mut stmt = c.prepare_cached(if by_minute {
                    "SELECT data FROM chunks c WHERE series_id = ?1 AND start > ?2 - 3600000 AND start < ?3
                        AND NOT EXISTS (SELECT 1 FROM minute_rollups r WHERE r.series_id = ?1 AND r.hour = c.start)
                     UNION ALL SELECT data FROM pieces WHERE series_id = ?1 AND first > ?2 - 3600000 AND first < ?3"
                } else {
                    "SELECT data FROM chunks WHERE series_id = ?1 AND start > ?2 - 3600000 AND start < ?3
                     UNION ALL SELECT data FROM pieces WHERE series_id = ?1 AND first > ?2 - 3600000 AND first < ?3"
                })?;
                let mut blobs = stmt.query(window)?;
                while let Some(row) = blobs.next()? {
                    // Samples are in time order: sum each bucket's run before handing it on.
                    let mut run: Option<(usize, Partial)> = None;
                    for s in unpack(row)? {
                        let Some(i) = plan.index(s.at) else { continue };
                        match &mut run {
                            Some((at, p)) if *at == i => p.merge(&Partial::of(s.value)),
                            _ => partials.extend(run.replace((i, Partial::of(s.value)))),
                        }
                    }
                    partials.extend(run);
                }
            }
            let stored = if by_hour {
                format!(
                    "SELECT (t - ?2) / ?3, total(sum), min(min), max(max), sum(count)
                     FROM {HOUR_ROLLUPS} WHERE series_id = ?1 AND t >= ?2 AND t < ?4 GROUP BY 1"
                )
            } else {
                "SELECT (measured_at - ?2) / ?3, total(value), min(value), max(value), count(*)
                 FROM samples WHERE series_id = ?1 AND measured_at >= ?2 AND measured_at < ?4 GROUP BY 1"
                    .to_owned()
            };
            let recent = "SELECT (measured_at - ?2) / ?3, total(value), min(value), max(value), count(*)
                 FROM recent_samples WHERE measured_at >= ?2 AND measured_at < ?4 AND series_id = ?1 GROUP BY 1";
            for sql in [stored.as_str(), recent] {
                let mut stmt = c.prepare_cached(sql)?;
                let rows = stmt.query_map((series, plan.start, plan.width, plan.end()), |r| {
                    Ok((
                        r.get::<_, i64>(0)? as usize,
                        Partial {
                            sum: r.get(1)?,
                            min: r.get(2)?,
                            max: r.get(3)?,
                            count: r.get::<_, i64>(4)? as u64,
                        },
                    ))
                })?;
                for row in rows {
                    partials.push(row?);
                }
            }
            Ok(Some(assemble(plan, partials)))
        })
    }

    /// Whether a sensor's series for `metric` holds a value Clima derived (its latest one), so
    /// the device sends no such value of its own.
    pub fn is_derived(&self, sensor: &str, metric: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.prepare_cached(
                "SELECT m.derived FROM series m JOIN sensors s ON s.id = m.sensor_id WHERE s.key = ?1 AND m.metric = ?2",
            )?
            .query_row((sensor, metric), |r| r.get::<_, bool>(0))
            .optional()?
            .unwrap_or(false))
        })
    }

    /// Calls `each(measured_at, received_at, a, b)` for every time in `[from, to)` at which a
    /// sensor has both a sample of metric `a` and one of metric `b`, in time order, reading all
    /// four sample tables hour by hour. `false` when the sensor lacks either series.
    pub fn paired(
        &self,
        sensor: &str,
        (a, b): (&str, &str),
        (from, to): (Millis, Millis),
        mut each: impl FnMut(Millis, Millis, f64, f64),
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let (Some(sa), Some(sb)) = (series_id(c, sensor, a)?, series_id(c, sensor, b)?) else {
                return Ok(false);
            };
            let Some((first, last)) = data_span(c, sa)? else {
                return Ok(true);
            };
            let (from, to) = (from.max(first), to.min(last + 1));
            let mut hour = from.div_euclid(HOUR) * HOUR;
            while hour < to {
                let (start, end) = (from.max(hour), to.min(hour + HOUR));
                let xs = hour_samples(c, sa, hour, start, end)?;
                let ys = hour_samples(c, sb, hour, start, end)?;
                same_times(&xs, &ys, |x, y| each(x.at, x.received_at, x.value, y.value));
                hour += HOUR;
            }
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::writer::testing::default_writer;
    use crate::store::READER_CACHE_KIB;

    /// The bytes of page cache a connection holds, as SQLite counts them.
    fn cache_used(c: &Connection) -> i64 {
        let (mut now, mut high) = (0, 0);
        // SAFETY: the handle is valid while `c` lives; the call only reads the connection's
        // counters into the two integers.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_db_status(
                c.handle(),
                rusqlite::ffi::SQLITE_DBSTATUS_CACHE_USED,
                &mut now,
                &mut high,
                0,
            )
        };
        assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
        i64::from(now)
    }

    #[test]
    fn a_query_caches_at_most_the_cap_and_an_idle_reader_nothing() {
        let (_dir, path, _writer) = default_writer("pool");
        // 4 MiB of pages, several times a reader's cache.
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE filler (x BLOB)").unwrap();
        for _ in 0..1024 {
            c.execute("INSERT INTO filler VALUES (zeroblob(4096))", [])
                .unwrap();
        }
        let reader = Reader::new(path.clone());
        let cap = READER_CACHE_KIB * 1024;
        let during = reader
            .with(|c| {
                let n: i64 = c.query_row(
                    "SELECT count(*) FROM filler WHERE length(x) = 4096",
                    [],
                    |r| r.get(0),
                )?;
                assert_eq!(n, 1024);
                Ok(cache_used(c))
            })
            .unwrap();
        // Full, and within the cap (plus SQLite's header per page, under a tenth).
        assert!(
            during > cap / 2 && during < cap + cap / 10,
            "{during} bytes cached during the scan"
        );
        let pool = reader.pool.lock().unwrap();
        assert_eq!(pool.len(), 1);
        let idle = cache_used(&pool[0]);
        assert!(idle < 64 * 1024, "{idle} bytes cached by an idle reader");
    }
}
