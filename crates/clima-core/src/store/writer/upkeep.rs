//! Upkeep between commits: moving recent samples into pieces, sealing hours into chunks, and
//! pruning what is past its retention.

use std::time::Duration;

use clima_model::{chunk, rollup, Millis, HOUR};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{Retention, Writer};
use crate::store::layout::{
    load_chunk, load_minutes, load_pieces, pack_hour, store_minutes, unpack_blob, Rollups, Runs,
};
use crate::store::StoreError;

/// Most rows one pruning step deletes from one table, so a step holds the writer a few ms.
const PRUNE_STEP_ROWS: i64 = 2_000;
/// Most hours of one series' late samples one sealing step packs.
const SEAL_STEP_HOURS: usize = 8;
/// Most samples one step sealing pieces packs (it always takes at least one series).
const SEAL_STEP_SAMPLES: i64 = 100_000;

/// Free pages one upkeep step gives back to the file system (1 MiB at 4 KiB pages), and the
/// free pages left alone: SQLite reuses them before the file grows, so trimming the last few
/// would only make the next commits extend the file again.
const VACUUM_STEP_PAGES: i64 = 256;
const VACUUM_KEEP_PAGES: i64 = 256;

/// Settings key prefixes of a sensor's own retention, followed by its id; the value is
/// milliseconds, or `forever`.
pub const KEEP_RAW_KEY: &str = "keep_raw:";
pub const KEEP_MINUTE_KEY: &str = "keep_minute:";

/// The retention of the sensor a series belongs to: its own settings where it has them.
fn sensor_retention(
    c: &Connection,
    series: i64,
    global: Retention,
) -> Result<Retention, StoreError> {
    let own = |prefix: &str| -> Result<Option<String>, StoreError> {
        Ok(c.prepare_cached(
            "SELECT value FROM settings WHERE key = ?1 || (SELECT s.key FROM sensors s JOIN series m ON m.sensor_id = s.id WHERE m.id = ?2)",
        )?
        .query_row((prefix, series), |r| r.get(0))
        .optional()?)
    };
    let parse = |v: Option<String>, fallback: Option<Duration>| match v.as_deref() {
        None => fallback,
        Some("forever") => None,
        Some(ms) => ms.parse().ok().map(Duration::from_millis).or(fallback),
    };
    Ok(Retention {
        raw: parse(own(KEEP_RAW_KEY)?, global.raw),
        minute: parse(own(KEEP_MINUTE_KEY)?, global.minute),
    })
}

impl Writer {
    /// One round of upkeep between commits: a move step, a step sealing pieces, and sealing and
    /// pruning for the next series. Returns whether more is waiting.
    pub(super) fn tick(&mut self, now: Millis) -> Result<bool, StoreError> {
        let waiting = self.move_step(now)? | self.seal_pieces(now)? | self.vacuum_step()?;
        let Some(series) = self.next_series()? else {
            return Ok(waiting);
        };
        let more = self.seal_series(series, now)? | self.prune_series(series, now)?;
        if !more {
            self.series_cursor = series;
        }
        Ok(more || waiting)
    }

    /// Runs every step until nothing is due.
    pub(super) fn maintain_all(&mut self, now: Millis) -> Result<(), StoreError> {
        while self.move_step(now)? {}
        while self.seal_pieces(now)? {}
        let ids: Vec<i64> = self
            .conn
            .prepare("SELECT id FROM series ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for series in ids {
            while self.seal_series(series, now)? {}
            while self.prune_series(series, now)? {}
        }
        // Give the freed pages back to the file system (a no-op unless the file was created
        // with incremental auto-vacuum).
        // The pragma frees pages as it is stepped, so step it to the end.
        let mut vacuum = self.conn.prepare("PRAGMA incremental_vacuum")?;
        let mut steps = vacuum.query([])?;
        while steps.next()?.is_some() {}
        Ok(())
    }

    /// Gives back to the file system at most [`VACUUM_STEP_PAGES`] of the pages that sealing and
    /// pruning freed, once more than [`VACUUM_KEEP_PAGES`] are free, so the file shrinks as it
    /// goes without holding the writer. Returns whether more is waiting. A file created without
    /// incremental auto-vacuum keeps its free pages for reuse.
    fn vacuum_step(&mut self) -> Result<bool, StoreError> {
        let free: i64 = self
            .conn
            .pragma_query_value(None, "freelist_count", |r| r.get(0))?;
        if free <= VACUUM_KEEP_PAGES || !self.incremental_vacuum()? {
            return Ok(false);
        }
        let pages = (free - VACUUM_KEEP_PAGES).min(VACUUM_STEP_PAGES);
        let mut vacuum = self
            .conn
            .prepare_cached(&format!("PRAGMA incremental_vacuum({pages})"))?;
        let mut steps = vacuum.query([])?;
        while steps.next()?.is_some() {}
        Ok(free - pages > VACUUM_KEEP_PAGES)
    }

    /// Whether the file was created with incremental auto-vacuum (SQLite's mode 2).
    fn incremental_vacuum(&self) -> Result<bool, StoreError> {
        let mode: i64 = self
            .conn
            .pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
        Ok(mode == 2)
    }

    /// The series after the cursor, wrapping around.
    fn next_series(&mut self) -> Result<Option<i64>, StoreError> {
        let next: Option<i64> = self.conn.query_row(
            "SELECT min(id) FROM series WHERE id > ?1",
            [self.series_cursor],
            |r| r.get(0),
        )?;
        if next.is_none() {
            self.series_cursor = 0;
        }
        Ok(next)
    }

    /// Deletes one series' data past its retention, at most [`PRUNE_STEP_ROWS`] rows a table.
    /// Returns whether more is waiting.
    fn prune_series(&mut self, series: i64, now: Millis) -> Result<bool, StoreError> {
        let retention = sensor_retention(&self.conn, series, self.cfg.retention)?;
        let cutoff = |keep: Option<Duration>| keep.map(|k| now - k.as_millis() as Millis);
        let raw = cutoff(retention.raw);
        let targets = [
            ("samples", "measured_at", raw, PRUNE_STEP_ROWS),
            // A chunk goes once its whole hour is past the cutoff.
            (
                "chunks",
                "start",
                raw.map(|c| c - HOUR + 1),
                PRUNE_STEP_ROWS / 100,
            ),
            // Minute rollups are packed per hour, like chunks.
            (
                "minute_rollups",
                "hour",
                cutoff(retention.minute).map(|c| c - HOUR + 1),
                PRUNE_STEP_ROWS / 20,
            ),
        ];
        if targets.iter().all(|(_, _, c, _)| c.is_none()) {
            return Ok(false);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut more = false;
        for (table, column, cutoff, step) in targets {
            let Some(cutoff) = cutoff else { continue };
            // Deletes up to the cutoff, or up to the step's last row if there are more.
            let deleted = tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE series_id = ?1 AND {column} < min(?2, coalesce(
                        (SELECT {column} FROM {table} WHERE series_id = ?1 ORDER BY {column} LIMIT 1 OFFSET ?3), ?2))"
                ),
                (series, cutoff, step),
            )?;
            more |= deleted as i64 >= step;
        }
        tx.commit()?;
        Ok(more)
    }

    /// Packs one series' oldest hours of late samples (`samples`) that ended more than an hour
    /// ago into chunks, at most [`SEAL_STEP_HOURS`] of them. Returns whether more is waiting.
    fn seal_series(&mut self, series: i64, now: Millis) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for _ in 0..SEAL_STEP_HOURS {
            let oldest: Option<Millis> = tx.query_row(
                "SELECT min(measured_at) FROM samples WHERE series_id = ?1",
                [series],
                |r| r.get(0),
            )?;
            let Some(hour) = oldest.and_then(|t| sealable(t, now)) else {
                tx.commit()?;
                return Ok(false);
            };
            let pieces = load_pieces(&tx, series, hour)?;
            seal_hour(&tx, series, hour, load_chunk(&tx, series, hour)?, pieces)?;
            tx.prepare_cached(
                "DELETE FROM pieces WHERE first >= ?2 AND first < ?3 AND series_id = ?1",
            )?
            .execute((series, hour, hour + HOUR))?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Packs the oldest hour of pieces, if it ended more than an hour ago, into one chunk per
    /// series, for series holding at most [`SEAL_STEP_SAMPLES`] samples in all. Pieces are
    /// ordered by time, not series, so an hour is read once for all its series. Returns
    /// whether it sealed anything (more may be waiting).
    fn seal_pieces(&mut self, now: Millis) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let oldest: Option<Millis> =
            tx.query_row("SELECT min(first) FROM pieces", [], |r| r.get(0))?;
        let Some(hour) = oldest.and_then(|t| sealable(t, now)) else {
            tx.commit()?;
            return Ok(false);
        };
        // The hour's pieces by series, keys only.
        let mut by_series: std::collections::BTreeMap<i64, (i64, Vec<Millis>)> = Default::default();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT series_id, count, first FROM pieces WHERE first >= ?1 AND first < ?2",
            )?;
            let mut rows = stmt.query((hour, hour + HOUR))?;
            while let Some(r) = rows.next()? {
                let entry = by_series.entry(r.get(0)?).or_default();
                entry.0 += r.get::<_, i64>(1)?;
                entry.1.push(r.get(2)?);
            }
        }
        let all = by_series.len();
        let mut taken = 0;
        let mut sealed = 0;
        for (series, (count, firsts)) in by_series {
            if taken > 0 && taken + count > SEAL_STEP_SAMPLES {
                break;
            }
            taken += count;
            let mut pieces = Vec::new();
            let mut piece =
                tx.prepare_cached("SELECT data FROM pieces WHERE first = ?1 AND series_id = ?2")?;
            let mut delete =
                tx.prepare_cached("DELETE FROM pieces WHERE first = ?1 AND series_id = ?2")?;
            for first in firsts {
                let data: Vec<u8> = piece.query_row((first, series), |r| r.get(0))?;
                pieces.extend(unpack_blob(&data)?);
                delete.execute((first, series))?;
            }
            pieces.sort_by_key(|s| s.at);
            seal_hour(&tx, series, hour, load_chunk(&tx, series, hour)?, pieces)?;
            sealed += 1;
        }
        tx.commit()?;
        tracing::debug!(hour, sealed, of = all, "sealed pieces");
        Ok(true)
    }

    /// Moves samples older than the recent window into pieces, at most `move_step_rows` at a
    /// time. Returns whether the step was capped (more is waiting).
    fn move_step(&mut self, now: Millis) -> Result<bool, StoreError> {
        let target = now - self.cfg.recent_window.as_millis() as Millis;
        if target <= self.horizon {
            return Ok(false);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let nth: Option<Millis> = tx
            .query_row(
                "SELECT measured_at FROM recent_samples WHERE measured_at < ?1 ORDER BY measured_at LIMIT 1 OFFSET ?2",
                (target, self.cfg.move_step_rows),
                |r| r.get(0),
            )
            .optional()?;
        let cutoff = match nth {
            None => target,
            Some(t) => {
                let first: Millis =
                    tx.query_row("SELECT min(measured_at) FROM recent_samples", [], |r| {
                        r.get(0)
                    })?;
                // Many rows at one instant: take them all rather than make no progress.
                if t > first {
                    t
                } else {
                    t + 1
                }
            }
        };
        // The rows move into pieces, so into the rollups too. Nothing else holds their times:
        // the horizon only passes a time once the recent table below it is empty.
        let mut runs = Runs::default();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT series_id, measured_at, received_at, value FROM recent_samples WHERE measured_at < ?1",
            )?;
            let mut rows = stmt.query([cutoff])?;
            while let Some(r) = rows.next()? {
                let sample = chunk::Sample {
                    at: r.get(1)?,
                    received_at: r.get(2)?,
                    value: r.get(3)?,
                };
                runs.add(r.get(0)?, sample);
            }
        }
        let mut rolled = Rollups::default();
        runs.insert(&tx, &mut rolled)?;
        rolled.upsert(&tx)?;
        let moved = tx.execute(
            "DELETE FROM recent_samples WHERE measured_at < ?1",
            [cutoff],
        )?;
        tx.execute(
            "UPDATE settings SET value = ?1 WHERE key = 'recent_horizon'",
            [cutoff.to_string()],
        )?;
        tx.commit()?;
        self.horizon = cutoff;
        if moved > 0 {
            tracing::debug!(moved, cutoff, "moved recent samples");
        }
        Ok(nth.is_some())
    }
}

/// The hour holding `t`, if it ended more than an hour before `now` and may be sealed.
fn sealable(t: Millis, now: Millis) -> Option<Millis> {
    let hour = t.div_euclid(HOUR) * HOUR;
    (hour + HOUR <= now.div_euclid(HOUR) * HOUR - HOUR).then_some(hour)
}

/// Rewrites one series' hour as a single chunk: `chunk` (what it held, in time order), `pieces`
/// (in time order; never a time of the chunk) and its late samples, of which a time already
/// packed is dropped, as the packed copy was stored first. Removes the late samples; the caller
/// removes the pieces.
///
/// The hour's minute rollups, where it has them, take what the chunk gains, and its row of hour
/// rollups moves into its day's packed hours. An hour sealed for the first time gets minute
/// rollups if its interval calls for them (`rollup::keeps_minutes`); one sealed before without
/// them keeps none, so they always sum every sample its chunk has held.
fn seal_hour(
    tx: &rusqlite::Transaction,
    series: i64,
    hour: Millis,
    chunk: Vec<chunk::Sample>,
    pieces: Vec<chunk::Sample>,
) -> Result<(), StoreError> {
    let range = (series, hour, hour + HOUR);
    let mut new: Vec<chunk::Sample> = tx
        .prepare_cached(
            "SELECT measured_at, received_at, value FROM samples
             WHERE series_id = ?1 AND measured_at >= ?2 AND measured_at < ?3 ORDER BY measured_at",
        )?
        .query_map(range, |r| {
            Ok(chunk::Sample {
                at: r.get(0)?,
                received_at: r.get(1)?,
                value: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let packed = |at: Millis| {
        let has = |s: &[chunk::Sample]| s.binary_search_by_key(&at, |s| s.at).is_ok();
        has(&chunk) || has(&pieces)
    };
    new.retain(|r| !packed(r.at));
    if !pieces.is_empty() {
        new.extend(pieces);
        new.sort_by_key(|s| s.at);
    }
    let first_seal = chunk.is_empty();
    let mut rows = chunk;
    if !new.is_empty() {
        rows.extend_from_slice(&new);
        rows.sort_by_key(|s| s.at);
    }
    match load_minutes(tx, series, hour)? {
        Some(had) => store_minutes(
            tx,
            series,
            hour,
            &rollup::merge(&had, &rollup::minutes(&new)),
        )?,
        None if first_seal => {
            let minutes = rollup::minutes(&rows);
            if rollup::keeps_minutes(&minutes) {
                store_minutes(tx, series, hour, &minutes)?;
            }
        }
        None => {}
    }
    tx.prepare_cached(
        "INSERT OR REPLACE INTO chunks (series_id, start, count, data) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute((series, hour, rows.len() as i64, chunk::encode(&rows)))?;
    tx.prepare_cached(
        "DELETE FROM samples WHERE series_id = ?1 AND measured_at >= ?2 AND measured_at < ?3",
    )?
    .execute(range)?;
    pack_hour(tx, series, hour)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use clima_model::downsample::BucketPlan;
    use clima_model::Reading;
    use foldhash::HashMap;

    use super::*;
    use crate::hub::Hub;
    use crate::now_ms;
    use crate::store::writer::testing::{count_rows, default_writer, reading, same_buckets};
    use crate::store::{open, spawn_writer, Reader, Receipt, Source, WriterConfig};

    #[test]
    fn moves_old_samples_in_capped_steps_and_keeps_dedupe_across_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let cfg = WriterConfig {
            recent_window: Duration::ZERO,
            move_every: Duration::from_millis(20),
            move_step_rows: 50,
            max_group_samples: 1000,
            ..WriterConfig::default()
        };
        let hub = Hub::default();
        let mut live = hub.subscribe();
        let (w, thread) = spawn_writer(open(&path).unwrap(), hub, cfg).unwrap();
        // Just ahead of the clock, so they land in `recent_samples` and move once time passes.
        let t0 = now_ms() + 1_500;
        // 120 samples at one instant (more than a step) and 100 spread over time.
        let same: Vec<Reading> = (0..120)
            .map(|i| reading(&format!("s{i}"), t0, 20.0))
            .collect();
        let spread: Vec<Reading> = (0..100).map(|i| reading("a", t0 + i, i as f64)).collect();
        assert_eq!(w.write(same, Source::Http, t0).unwrap().stored, 120);
        assert_eq!(
            w.write(spread.clone(), Source::Http, t0).unwrap().stored,
            100
        );
        assert_eq!(count_rows(&path, "recent_samples"), 220);
        let deadline = Instant::now() + Duration::from_secs(10);
        while count_rows(&path, "recent_samples") > 0 {
            assert!(Instant::now() < deadline, "recent samples were not moved");
            std::thread::sleep(Duration::from_millis(20));
        }
        let c = Connection::open(&path).unwrap();
        let packed: (i64, i64) = c
            .query_row("SELECT count(*), sum(count) FROM pieces", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        // One piece per series and step: "a" is spread over 100 ms, so over several steps.
        assert_eq!(packed.1, 220);
        assert!((121..=170).contains(&packed.0), "{packed:?}");
        // Resending now goes the backlog's way and is still recognised.
        let again = w.write(spread, Source::Http, t0).unwrap();
        assert_eq!(
            again,
            Receipt {
                stored: 0,
                duplicates: 100,
                conflicts: Vec::new()
            }
        );
        let plan = BucketPlan::new(t0, t0 + 100, 1).unwrap();
        let buckets = Reader::new(path.clone())
            .range("a", "temperature", &plan)
            .unwrap()
            .unwrap();
        assert_eq!(buckets[0].count, 100);
        assert_eq!(buckets[0].mean, Some(49.5));
        // Live values: the newest of "a" was published, and only once.
        let mut newest_a = Vec::new();
        while let Ok(batch) = live.try_recv() {
            newest_a.extend(batch.iter().filter(|s| s.sensor == "a").map(|s| s.value));
        }
        assert_eq!(newest_a, vec![99.0]);
        w.stop();
        thread.join().unwrap();
        assert!(
            w.write(vec![reading("late", t0, 1.0)], Source::Http, t0)
                .is_err(),
            "stopped writer refuses"
        );
    }

    #[test]
    fn sealed_hours_are_compact_exact_and_still_deduplicated() {
        use clima_model::downsample::bucketize;
        let (_dir, path, w) = default_writer("seal");
        let hour = HOUR;
        let now = now_ms();
        let start = (now - 6 * hour).div_euclid(hour) * hour;
        let mut all: Vec<(Millis, f64)> = (0..3 * 3600)
            .map(|i| (start + i * 1000, ((i % 500) as f64) / 100.0 + 18.0))
            .collect();
        let readings = |v: &[(Millis, f64)]| {
            v.iter()
                .map(|(at, x)| reading("s", *at, *x))
                .collect::<Vec<_>>()
        };
        w.write(readings(&all), Source::Http, now).unwrap();
        w.maintain().unwrap();
        let c = Connection::open(&path).unwrap();
        let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM samples"), 0);
        assert_eq!(count("SELECT count(*) FROM chunks"), 3);
        assert_eq!(count("SELECT sum(count) FROM chunks"), 3 * 3600);
        let bytes = count("SELECT sum(length(data)) FROM chunks");
        assert!(
            bytes < 3 * 3600 * 4,
            "{bytes} bytes for {} samples",
            3 * 3600
        );
        // Resending a sealed hour stores nothing; a new late sample waits, then joins its chunk.
        assert_eq!(
            w.write(readings(&all[..3600]), Source::Http, now)
                .unwrap()
                .duplicates,
            3600
        );
        let late = (start + 1500, 99.5);
        all.push(late);
        assert_eq!(
            w.write(readings(&[late]), Source::Http, now)
                .unwrap()
                .stored,
            1
        );
        // Raw-resolution charts read chunks and pending late samples alike.
        let reader = Reader::new(path.clone());
        let check = |all: &[(Millis, f64)]| {
            let plan = BucketPlan::new(start, start + 3 * hour, 2000).unwrap();
            assert!(plan.width < 60_000, "raw resolution");
            let got = reader.range("s", "temperature", &plan).unwrap().unwrap();
            same_buckets(&got, &bucketize(&plan, all.iter().copied()));
        };
        check(&all);
        w.maintain().unwrap();
        assert_eq!(count("SELECT count(*) FROM samples"), 0);
        assert_eq!(count("SELECT sum(count) FROM chunks"), 3 * 3600 + 1);
        check(&all);
        // And the export has every sample once, in time order.
        let mut csv = Vec::new();
        let rows = crate::store::export::export_csv(
            &reader,
            "s",
            "temperature",
            start,
            now,
            &mut csv,
            |_| {},
        )
        .unwrap();
        assert_eq!(rows, 3 * 3600 + 1);
        let text = String::from_utf8(csv).unwrap();
        let times: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(3).unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "not in time order");
    }

    #[test]
    fn a_sensor_can_keep_less_or_more_than_the_rest() {
        let (_dir, path, w) = default_writer("own");
        let hour = HOUR;
        let now = now_ms();
        let start = now - 6 * hour;
        for sensor in ["short", "normal"] {
            let rs: Vec<Reading> = (0..6 * 360)
                .map(|i| reading(sensor, start + i * 10_000, 20.0))
                .collect();
            w.write(rs, Source::Http, now).unwrap();
        }
        w.set_setting(&format!("{KEEP_RAW_KEY}short"), &(2 * hour).to_string())
            .unwrap();
        w.maintain().unwrap();
        let reader = Reader::new(path.clone());
        let raw_count = |sensor: &str| {
            let plan = BucketPlan::new(start, now, 5000).unwrap();
            assert!(plan.width < 60_000);
            reader
                .range(sensor, "temperature", &plan)
                .unwrap()
                .unwrap()
                .iter()
                .map(|b| b.count)
                .sum::<u64>()
        };
        assert_eq!(
            raw_count("normal"),
            6 * 360,
            "the global 30 days keep everything"
        );
        let short = raw_count("short");
        assert!(
            (2 * 360..=3 * 360).contains(&short),
            "kept {short} of the last 2 to 3 hours"
        );
        // Back to the server's setting, and `forever`, both parse.
        w.set_setting(&format!("{KEEP_RAW_KEY}short"), "").unwrap();
        w.set_setting(&format!("{KEEP_MINUTE_KEY}short"), "forever")
            .unwrap();
        w.maintain().unwrap();
        assert_eq!(raw_count("short"), short);
    }

    #[test]
    fn retention_prunes_raw_and_minutes_in_steps_and_keeps_rollups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.db");
        let hour = HOUR;
        let cfg = WriterConfig {
            recent_window: Duration::ZERO,
            move_every: Duration::from_millis(10),
            retention: Retention {
                raw: Some(Duration::from_secs(2 * 3600)),
                minute: Some(Duration::from_secs(4 * 3600)),
            },
            ..Default::default()
        };
        let (w, _t) = spawn_writer(open(&path).unwrap(), Hub::default(), cfg).unwrap();
        let now = now_ms();
        let start = (now - 6 * hour).div_euclid(hour) * hour;
        // Six hours at one sample every 2 s, for two sensors: 10 800 rows each, several steps.
        for sensor in ["a", "b"] {
            let rs: Vec<Reading> = (0..(6 * hour / 2_000))
                .map(|i| reading(sensor, start + i * 2_000, 20.0))
                .collect();
            w.write(rs, Source::Http, now).unwrap();
        }
        let c = Connection::open(&path).unwrap();
        let oldest = |sql: &str| -> i64 {
            c.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
                .unwrap()
                .unwrap_or(i64::MAX)
        };
        // Raw data lives in pieces and `samples` and, once sealed, in hour chunks; a chunk goes when its
        // whole hour is past the cutoff.
        let raw = "SELECT min(t) FROM (SELECT min(measured_at) AS t FROM samples UNION ALL SELECT min(start) FROM chunks
                                      UNION ALL SELECT min(first) FROM pieces)";
        let deadline = Instant::now() + Duration::from_secs(20);
        while oldest(raw) <= now - 3 * hour
            || oldest("SELECT min(hour) FROM minute_rollups") <= now - 5 * hour
        {
            assert!(Instant::now() < deadline, "pruning did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
        let chunks: i64 = c
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
            .unwrap();
        assert!(chunks > 0, "old hours were sealed");
        assert!(
            oldest("SELECT min(day) FROM hour_rollups") <= start,
            "hour rollups are kept forever"
        );
        assert!(
            oldest("SELECT min(t) FROM rollup_hour") > start,
            "sealed hours' rows are packed"
        );
        // A chart of the whole range still shows every sample, from the hour rollups.
        let plan = BucketPlan::new(start, start + 6 * hour, 6).unwrap();
        let buckets = Reader::new(path.clone())
            .range("a", "temperature", &plan)
            .unwrap()
            .unwrap();
        assert!(buckets.iter().all(|b| b.count == 1_800), "{buckets:?}");
        // Minute rollups outlive the raw hours they sum: a minute-wide chart of an hour whose
        // chunk is gone still counts every sample.
        let past_raw: i64 = c
            .query_row(
                "SELECT count(*) FROM minute_rollups WHERE hour < (SELECT min(start) FROM chunks)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(past_raw > 0);
        let plan = BucketPlan::new(start + 2 * hour, start + 3 * hour, 60).unwrap();
        let buckets = Reader::new(path.clone())
            .range("a", "temperature", &plan)
            .unwrap()
            .unwrap();
        assert!(buckets.iter().all(|b| b.count == 30), "{buckets:?}");
    }

    #[test]
    fn space_freed_by_pruning_goes_back_to_the_file_system_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shrink.db");
        let hour = HOUR;
        let now = now_ms();
        let start = (now - 25 * hour).div_euclid(hour) * hour;
        // A day at 10 s for 40 sensors, kept at first; values that are no short decimals, so
        // that their chunks fill some pages.
        let (w, t) = spawn_writer(
            open(&path).unwrap(),
            Hub::default(),
            WriterConfig::default(),
        )
        .unwrap();
        for sensor in 0..40 {
            let rs: Vec<Reading> = (0..(24 * hour / 10_000))
                .map(|i| {
                    reading(
                        &format!("s{sensor}"),
                        start + i * 10_000,
                        (i % 89) as f64 / 7.0,
                    )
                })
                .collect();
            w.write(rs, Source::Http, now).unwrap();
        }
        w.maintain().unwrap();
        w.stop();
        t.join().unwrap();
        let c = Connection::open(&path).unwrap();
        let pragma =
            |name: &str| -> i64 { c.pragma_query_value(None, name, |r| r.get(0)).unwrap() };
        let high = pragma("page_count");
        // Then almost all of it is past a shorter retention: pruned, and the file shrinks
        // without anyone calling `maintain`.
        let cfg = WriterConfig {
            retention: Retention {
                raw: Some(Duration::from_secs(3600)),
                minute: Some(Duration::from_secs(3600)),
            },
            move_every: Duration::from_millis(20),
            ..Default::default()
        };
        let (_w, _t) = spawn_writer(open(&path).unwrap(), Hub::default(), cfg).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while pragma("page_count") * 2 > high || pragma("freelist_count") > VACUUM_KEEP_PAGES {
            assert!(
                Instant::now() < deadline,
                "file not given back: {} pages ({} free) after a high of {high}",
                pragma("page_count"),
                pragma("freelist_count")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn pieces_are_sealed_in_capped_steps_into_the_chunks_already_there() {
        use clima_model::downsample::bucketize;
        let (_dir, path, w) = default_writer("cap");
        let now = now_ms();
        let hour = (now - 5 * HOUR).div_euclid(HOUR) * HOUR;
        let mut all: HashMap<&str, Vec<(Millis, f64)>> = HashMap::default();
        let mut write = |times: &mut dyn Iterator<Item = Millis>| {
            let mut batch = Vec::new();
            for at in times {
                for sensor in ["a", "b"] {
                    let v = 20.0 + (at / 1_000 % 100) as f64 / 10.0;
                    all.entry(sensor).or_default().push((at, v));
                    batch.push(reading(sensor, at, v));
                }
            }
            w.write(batch, Source::Http, now).unwrap();
            w.maintain().unwrap();
        };
        // The hour's first half, sealed; then 55 000 samples a series more, in pieces: more
        // than one sealing step takes, and merged into the chunks of the first half.
        write(&mut (0..1_800).map(|i| hour + i * 1_000));
        write(&mut (0..55_000).map(|i| hour + 1_800_000 + i * 32));
        let c = Connection::open(&path).unwrap();
        let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM pieces"), 0);
        assert_eq!(count("SELECT count(*) FROM chunks"), 2);
        assert_eq!(count("SELECT sum(count) FROM chunks"), 2 * 56_800);
        let reader = Reader::new(path.clone());
        for (sensor, samples) in &all {
            let plan = BucketPlan::new(hour, hour + HOUR, 4_000).unwrap();
            let got = reader.range(sensor, "temperature", &plan).unwrap().unwrap();
            same_buckets(&got, &bucketize(&plan, samples.iter().copied()));
        }
    }
}
