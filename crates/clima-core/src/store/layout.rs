//! How samples, pieces, chunks and rollups are laid out in the tables, shared by the writer, the
//! queries and the export.
//!
//! A sample within the recent window is a row of `recent_samples`. Older samples are packed per
//! series and hour into `pieces`, or, if not newer than what their series holds, wait as rows of
//! `samples`; sealing merges both into one `chunks` row per series and hour. Every sample outside
//! `recent_samples` is summed into the hour rollups as it is stored; a sealed hour of a fast
//! series also gets its minute rollups, packed in one `minute_rollups` row
//! (`clima_model::rollup`), which then stands for its chunk in minute-wide queries.

// foldhash: see the writer's caches.
use foldhash::HashMap;

use clima_model::downsample::Partial;
use clima_model::{chunk, rollup, Millis, DAY, HOUR};
use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// One series' sealed hour, if it has a chunk.
pub(super) fn load_chunk(
    c: &Connection,
    series: i64,
    hour: Millis,
) -> Result<Vec<chunk::Sample>, StoreError> {
    let data: Option<Vec<u8>> = c
        .prepare_cached("SELECT data FROM chunks WHERE series_id = ?1 AND start = ?2")?
        .query_row((series, hour), |r| r.get(0))
        .optional()?;
    data.map_or(Ok(Vec::new()), |d| unpack_blob(&d))
}

/// The samples packed in one series' hour: its chunk and its pieces, in time order.
pub(super) fn load_hour(
    c: &Connection,
    series: i64,
    hour: Millis,
) -> Result<Vec<chunk::Sample>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT data FROM chunks WHERE series_id = ?1 AND start = ?2
         UNION ALL SELECT data FROM pieces WHERE series_id = ?1 AND first >= ?2 AND first < ?3",
    )?;
    let mut blobs = stmt.query((series, hour, hour + HOUR))?;
    let (mut out, mut parts) = (Vec::new(), 0);
    while let Some(row) = blobs.next()? {
        out.extend(unpack(row)?);
        parts += 1;
    }
    if parts > 1 {
        out.sort_by_key(|s| s.at);
    }
    Ok(out)
}

/// One series' pieces within one hour, in time order.
pub(super) fn load_pieces(
    c: &Connection,
    series: i64,
    hour: Millis,
) -> Result<Vec<chunk::Sample>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT data FROM pieces WHERE series_id = ?1 AND first >= ?2 AND first < ?3",
    )?;
    let mut blobs = stmt.query((series, hour, hour + HOUR))?;
    let (mut out, mut parts) = (Vec::new(), 0);
    while let Some(row) = blobs.next()? {
        out.extend(unpack(row)?);
        parts += 1;
    }
    if parts > 1 {
        out.sort_by_key(|s| s.at);
    }
    Ok(out)
}

/// Decodes the chunk or piece in a query row's first column.
pub(super) fn unpack(row: &rusqlite::Row) -> Result<Vec<chunk::Sample>, StoreError> {
    let data = row.get_ref(0)?.as_blob().map_err(|e| damaged(&e))?;
    unpack_blob(data)
}

pub(super) fn unpack_blob(data: &[u8]) -> Result<Vec<chunk::Sample>, StoreError> {
    chunk::decode(data).map_err(|e| damaged(&e))
}

fn damaged(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Failed(format!(
        "stored samples are damaged ({e}): restore the database from a backup or export what still reads"
    ))
}

/// The table of hour rollups not yet packed: one row per series and hour, summed as samples
/// are stored. Sealing an hour moves its row into `hour_rollups` ([`pack_hour`]); the rows and
/// the packed hours together sum every sample outside `recent_samples`, each once.
pub(super) const HOUR_ROLLUPS: &str = "rollup_hour";

/// Adds a new partial aggregate to the row already there.
const ROLLUP_MERGE: &str = "ON CONFLICT (series_id, t) DO UPDATE SET sum = sum + excluded.sum, \
    min = min(min, excluded.min), max = max(max, excluded.max), count = count + excluded.count";

/// Samples newly stored outside `recent_samples` by one commit or move, summed per series and
/// hour.
#[derive(Default)]
pub(super) struct Rollups {
    hours: HashMap<(i64, Millis), Partial>,
}

impl Rollups {
    fn add(&mut self, series: i64, at: Millis, value: f64) {
        self.add_partial(series, at, Partial::of(value));
    }

    /// Adds one series' samples of one hour, summing them before touching the map.
    fn add_run(&mut self, series: i64, run: &[chunk::Sample]) {
        let mut p = Partial::of(run[0].value);
        for s in &run[1..] {
            p.merge(&Partial::of(s.value));
        }
        self.add_partial(series, run[0].at, p);
    }

    fn add_partial(&mut self, series: i64, at: Millis, p: Partial) {
        let key = (series, at - at.rem_euclid(HOUR));
        self.hours
            .entry(key)
            .and_modify(|e| e.merge(&p))
            .or_insert(p);
    }

    pub(super) fn upsert(&self, tx: &rusqlite::Transaction) -> Result<(), StoreError> {
        if self.hours.is_empty() {
            return Ok(());
        }
        let mut stmt = tx.prepare_cached(&format!(
            "INSERT INTO {HOUR_ROLLUPS} (series_id, t, sum, min, max, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6) {ROLLUP_MERGE}"
        ))?;
        for ((series, t), p) in &self.hours {
            stmt.execute((series, t, p.sum, p.min, p.max, p.count as i64))?;
        }
        Ok(())
    }
}

/// One series' minute rollups of one hour, if it has them.
pub(super) fn load_minutes(
    c: &Connection,
    series: i64,
    hour: Millis,
) -> Result<Option<Vec<rollup::Period>>, StoreError> {
    let data: Option<Vec<u8>> = c
        .prepare_cached("SELECT data FROM minute_rollups WHERE series_id = ?1 AND hour = ?2")?
        .query_row((series, hour), |r| r.get(0))
        .optional()?;
    data.map(|d| unpack_periods(&d)).transpose()
}

/// Writes one series' minute rollups of one hour, replacing what it had.
pub(super) fn store_minutes(
    c: &Connection,
    series: i64,
    hour: Millis,
    minutes: &[rollup::Period],
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO minute_rollups (series_id, hour, data) VALUES (?1, ?2, ?3)",
    )?
    .execute((series, hour, rollup::encode(minutes)))?;
    Ok(())
}

/// One series' hour rollups of one day in `hour_rollups`, if it has them.
fn load_hours(
    c: &Connection,
    series: i64,
    day: Millis,
) -> Result<Option<Vec<rollup::Period>>, StoreError> {
    let data: Option<Vec<u8>> = c
        .prepare_cached("SELECT data FROM hour_rollups WHERE series_id = ?1 AND day = ?2")?
        .query_row((series, day), |r| r.get(0))
        .optional()?;
    data.map(|d| unpack_periods(&d)).transpose()
}

/// Moves one series' row of hour rollups, if it has one for `hour`, into its day's packed
/// hours. Sealing calls it for the hour it sealed, so rows remain only for hours still open.
pub(super) fn pack_hour(c: &Connection, series: i64, hour: Millis) -> Result<(), StoreError> {
    let row: Option<Partial> = c
        .prepare_cached(&format!(
            "SELECT sum, min, max, count FROM {HOUR_ROLLUPS} WHERE series_id = ?1 AND t = ?2"
        ))?
        .query_row((series, hour), |r| {
            Ok(Partial {
                sum: r.get(0)?,
                min: r.get(1)?,
                max: r.get(2)?,
                count: r.get::<_, i64>(3)? as u64,
            })
        })
        .optional()?;
    let Some(partial) = row else { return Ok(()) };
    let day = hour - hour.rem_euclid(DAY);
    let had = load_hours(c, series, day)?.unwrap_or_default();
    let hours = rollup::merge(
        &had,
        &[rollup::Period {
            start: hour,
            partial,
        }],
    );
    c.prepare_cached(
        "INSERT OR REPLACE INTO hour_rollups (series_id, day, data) VALUES (?1, ?2, ?3)",
    )?
    .execute((series, day, rollup::encode(&hours)))?;
    c.prepare_cached(&format!(
        "DELETE FROM {HOUR_ROLLUPS} WHERE series_id = ?1 AND t = ?2"
    ))?
    .execute((series, hour))?;
    Ok(())
}

/// Reads the rows of a rollup table (`series_id, t, sum, min, max, count`) in order, and hands
/// each series' run of them within one `width` (an hour, a day) to `each`, keyed by the series and
/// the start of that period.
fn grouped_rows(
    tx: &Connection,
    table: &str,
    width: Millis,
    mut each: impl FnMut((i64, Millis), Vec<rollup::Period>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare(&format!(
        "SELECT series_id, t, sum, min, max, count FROM {table} ORDER BY series_id, t"
    ))?;
    let mut rows = stmt.query([])?;
    let mut group: Option<((i64, Millis), Vec<rollup::Period>)> = None;
    while let Some(r) = rows.next()? {
        let (series, start): (i64, Millis) = (r.get(0)?, r.get(1)?);
        let period = rollup::Period {
            start,
            partial: Partial {
                sum: r.get(2)?,
                min: r.get(3)?,
                max: r.get(4)?,
                count: r.get::<_, i64>(5)? as u64,
            },
        };
        let key = (series, start - start.rem_euclid(width));
        match &mut group {
            Some((k, periods)) if *k == key => periods.push(period),
            _ => {
                if let Some((key, periods)) = group.replace((key, vec![period])) {
                    each(key, periods)?;
                }
            }
        }
    }
    match group {
        Some((key, periods)) => each(key, periods),
        None => Ok(()),
    }
}

/// Migration 10, hours: packs every row of hour rollups into `hour_rollups`, one blob per
/// series and day. Any split between the rows and the packed hours sums the same samples.
pub(super) fn pack_hour_rollups(tx: &Connection) -> rusqlite::Result<()> {
    let mut store =
        tx.prepare("INSERT INTO hour_rollups (series_id, day, data) VALUES (?1, ?2, ?3)")?;
    grouped_rows(tx, HOUR_ROLLUPS, DAY, |(series, day), hours| {
        store
            .execute((series, day, rollup::encode(&hours)))
            .map(drop)
    })?;
    tx.execute_batch(&format!("DELETE FROM {HOUR_ROLLUPS}"))
}

/// Migration 10: packs the rows of `rollup_minute` per series and hour into `minute_rollups`,
/// then drops the table. An hour whose rows sum exactly its chunk (or what retention pruned of
/// it) keeps them packed, unless its chunk is still there and its interval needs no minute
/// rollups; an hour also holding pieces or late samples gets the minutes of its chunk alone,
/// as sealing would (its other samples are read raw until they are sealed).
pub(super) fn pack_minute_rollups(tx: &Connection) -> rusqlite::Result<()> {
    let bad = |e: chunk::ChunkError| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    };
    let mut groups: Vec<((i64, Millis), Vec<rollup::Period>)> = Vec::new();
    grouped_rows(tx, "rollup_minute", HOUR, |key, minutes| {
        groups.push((key, minutes));
        Ok(())
    })?;
    let mut unsealed = tx.prepare(
        "SELECT EXISTS (SELECT 1 FROM pieces WHERE series_id = ?1 AND first >= ?2 AND first < ?3)
             OR EXISTS (SELECT 1 FROM samples WHERE series_id = ?1 AND measured_at >= ?2 AND measured_at < ?3)",
    )?;
    let mut chunk_of = tx.prepare("SELECT data FROM chunks WHERE series_id = ?1 AND start = ?2")?;
    let mut store =
        tx.prepare("INSERT INTO minute_rollups (series_id, hour, data) VALUES (?1, ?2, ?3)")?;
    for ((series, hour), minutes) in groups {
        let chunk: Option<Vec<u8>> = chunk_of
            .query_row((series, hour), |r| r.get(0))
            .optional()?;
        let packed = if unsealed.query_row((series, hour, hour + HOUR), |r| r.get(0))? {
            let samples = chunk
                .map_or(Ok(Vec::new()), |d| chunk::decode(&d))
                .map_err(bad)?;
            Some(rollup::minutes(&samples)).filter(|m| rollup::keeps_minutes(m))
        } else {
            Some(minutes).filter(|m| chunk.is_none() || rollup::keeps_minutes(m))
        };
        if let Some(minutes) = packed {
            store.execute((series, hour, rollup::encode(&minutes)))?;
        }
    }
    tx.execute_batch("DROP TABLE rollup_minute")
}

/// Decodes a blob of `minute_rollups` or `hour_rollups`.
pub(super) fn unpack_periods(data: &[u8]) -> Result<Vec<rollup::Period>, StoreError> {
    rollup::decode(data).map_err(|e| damaged(&e))
}

/// One sample as stored.
pub(super) struct Row {
    pub(super) series: i64,
    pub(super) sample: chunk::Sample,
}

/// Samples on their way into pieces, gathered per series: from a commit, those older than the
/// recent window and newer than everything their series held when it began; from a move, the
/// rows leaving `recent_samples`.
#[derive(Default)]
pub(super) struct Runs {
    slot: HashMap<i64, usize>,
    runs: Vec<Run>,
}

/// One series' samples in a [`Runs`].
struct Run {
    series: i64,
    samples: Vec<chunk::Sample>,
}

impl Runs {
    pub(super) fn add(&mut self, series: i64, sample: chunk::Sample) {
        let next = self.runs.len();
        let i = *self.slot.entry(series).or_insert(next);
        if i == next {
            self.runs.push(Run {
                series,
                samples: Vec::new(),
            });
        }
        self.runs[i].samples.push(sample);
    }

    /// Puts each series' samples in time order and writes them as one piece per series and
    /// hour, adding them to the rollups. The samples are unique per series and time (the
    /// commit and the move both make sure of it).
    pub(super) fn insert(
        self,
        tx: &rusqlite::Transaction,
        rolled: &mut Rollups,
    ) -> Result<(), StoreError> {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO pieces (series_id, first, count, data) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for Run {
            series,
            mut samples,
        } in self.runs
        {
            if !samples.is_sorted_by_key(|s| s.at) {
                samples.sort_by_key(|s| s.at);
            }
            for piece in samples.chunk_by(|a, b| a.at.div_euclid(HOUR) == b.at.div_euclid(HOUR)) {
                rolled.add_run(series, piece);
                stmt.execute((
                    series,
                    piece[0].at,
                    piece.len() as i64,
                    chunk::encode_quick(piece),
                ))?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
pub(super) enum Table {
    Recent,
    Old,
}

/// Rows per INSERT statement: many rows per statement cost far less than one statement each.
const ROWS_PER_INSERT: usize = 64;

/// The INSERT for one row or for [`ROWS_PER_INSERT`] rows, built once.
fn insert_sql(table: Table, many: bool) -> &'static str {
    static SQL: std::sync::OnceLock<[String; 4]> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        let build = |name: &str, rows: usize| {
            let values = vec!["(?, ?, ?, ?)"; rows].join(", ");
            // Rows going straight to `samples` update the rollups, so the new ones are returned.
            let returning = if name == "samples" { " RETURNING series_id, measured_at, value" } else { "" };
            format!("INSERT OR IGNORE INTO {name} (series_id, measured_at, value, received_at) VALUES {values}{returning}")
        };
        [
            build("recent_samples", 1),
            build("recent_samples", ROWS_PER_INSERT),
            build("samples", 1),
            build("samples", ROWS_PER_INSERT),
        ]
    });
    &all[(table as usize) * 2 + usize::from(many)]
}

/// What [`insert_rows`] did: how many rows were new, and which rows met a different value
/// already stored at their time (their index, and the stored value).
#[derive(Default)]
pub(super) struct Inserted {
    pub(super) stored: usize,
    pub(super) conflicts: Vec<(usize, f64)>,
}

/// Inserts rows, skipping those already stored. Rows new to `samples` are added to `rolled`
/// for the rollups. The rows must be unique within the call (the commit deduplicates them).
pub(super) fn insert_rows(
    tx: &rusqlite::Transaction,
    table: Table,
    rows: &[Row],
    rolled: &mut Rollups,
) -> Result<Inserted, StoreError> {
    let mut out = Inserted::default();
    let mut run = |first: usize, rows: &[Row]| -> Result<(), StoreError> {
        let mut stmt = tx.prepare_cached(insert_sql(table, rows.len() > 1))?;
        for (i, r) in rows.iter().enumerate() {
            stmt.raw_bind_parameter(4 * i + 1, r.series)?;
            stmt.raw_bind_parameter(4 * i + 2, r.sample.at)?;
            stmt.raw_bind_parameter(4 * i + 3, r.sample.value)?;
            stmt.raw_bind_parameter(4 * i + 4, r.sample.received_at)?;
        }
        let stored = match table {
            Table::Recent => stmt.raw_execute()?,
            Table::Old => {
                let mut returned = stmt.raw_query();
                let mut n = 0;
                while let Some(row) = returned.next()? {
                    rolled.add(row.get(0)?, row.get(1)?, row.get(2)?);
                    n += 1;
                }
                n
            }
        };
        out.stored += stored;
        if stored < rows.len() {
            // Some were there already (rare: a resend): which of those hold another value?
            let name = match table {
                Table::Recent => "recent_samples",
                Table::Old => "samples",
            };
            let mut look = tx.prepare_cached(&format!(
                "SELECT value FROM {name} WHERE series_id = ?1 AND measured_at = ?2"
            ))?;
            for (i, r) in rows.iter().enumerate() {
                let held: f64 = look.query_row((r.series, r.sample.at), |row| row.get(0))?;
                if held != r.sample.value {
                    out.conflicts.push((first + i, held));
                }
            }
        }
        Ok(())
    };
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
    for (c, chunk) in (&mut chunks).enumerate() {
        run(c * ROWS_PER_INSERT, chunk)?;
    }
    let done = rows.len() - chunks.remainder().len();
    for (i, row) in chunks.remainder().iter().enumerate() {
        run(done + i, std::slice::from_ref(row))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use clima_model::downsample::BucketPlan;
    use clima_model::{Millis, Reading, HOUR};

    use crate::hub::Hub;
    use crate::now_ms;
    use crate::store::writer::testing::{count_rows, reading, same_buckets};
    use crate::store::{open, spawn_writer, Reader, Source, WriterConfig};

    #[test]
    fn rollups_match_raw_samples_through_moves_late_and_resent_readings() {
        use clima_model::downsample::bucketize;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let cfg = WriterConfig {
            recent_window: Duration::from_secs(2),
            move_every: Duration::from_millis(20),
            ..Default::default()
        };
        let (w, _t) = spawn_writer(open(&path).unwrap(), Hub::default(), cfg).unwrap();
        let now = now_ms();
        let hour = HOUR;
        let start = (now - 6 * hour).div_euclid(hour) * hour;
        let mut all: Vec<(Millis, f64)> = Vec::new();
        let write = |at: Millis, v: f64, all: &mut Vec<(Millis, f64)>| {
            all.push((at, v));
            reading("r", at, v)
        };
        // Three old hours, one sample every 7 s: packed into pieces, rollups summed per minute.
        for chunk in 0..3 {
            let rs: Vec<Reading> = (0..(hour / 7_000))
                .map(|i| {
                    let at = start + chunk * hour + i * 7_000;
                    write(at, ((at / 1000) % 97) as f64 / 3.0, &mut all)
                })
                .collect();
            w.write(rs, Source::Http, now).unwrap();
        }
        // Resent backlog, and a late reading inside an already rolled-up minute: to `samples`,
        // rollups from RETURNING.
        let resent: Vec<Reading> = all[100..200]
            .iter()
            .map(|(at, v)| reading("r", *at, *v))
            .collect();
        assert_eq!(w.write(resent, Source::Http, now).unwrap().duplicates, 100);
        let late = write(start + 30 * 60_000 + 3_500, 55.5, &mut all);
        w.write(vec![late], Source::Http, now).unwrap();
        // Fresh samples go through `recent_samples` and are moved, with their rollups, once
        // they are older than the window.
        let fresh: Vec<Reading> = (0..20)
            .map(|i| write(now + 500 + i * 10, i as f64, &mut all))
            .collect();
        w.write(fresh, Source::Http, now).unwrap();
        assert_eq!(count_rows(&path, "recent_samples"), 20);
        let deadline = Instant::now() + Duration::from_secs(10);
        while count_rows(&path, "recent_samples") > 0 {
            assert!(Instant::now() < deadline, "not moved");
            std::thread::sleep(Duration::from_millis(20));
        }
        // And some that are still in `recent_samples` when the queries run.
        let later = now_ms() + 500;
        let recent: Vec<Reading> = (0..5)
            .map(|i| write(later + i, 1.0 + i as f64, &mut all))
            .collect();
        w.write(recent, Source::Http, later).unwrap();
        assert_eq!(count_rows(&path, "recent_samples"), 5);
        let now = later + 1_000;
        let reader = Reader::new(path.clone());
        for (from, to, points) in [
            (start, now, 400),
            (start, now, 6),
            (start, start + 2 * hour, 120),
            (start, now, 50_00),
        ] {
            let plan = BucketPlan::new(from, to, points).unwrap();
            let got = reader.range("r", "temperature", &plan).unwrap().unwrap();
            same_buckets(&got, &bucketize(&plan, all.iter().copied()));
        }
    }

    #[test]
    fn minute_rollups_follow_each_hours_interval_and_stay_exact_through_late_samples() {
        use clima_model::downsample::bucketize;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let (w, _t) =
            spawn_writer(open(&path).unwrap(), Hub::default(), Default::default()).unwrap();
        let now = now_ms();
        let start = (now - 6 * HOUR).div_euclid(HOUR) * HOUR;
        let value = |at: Millis| ((at / 1000) % 89) as f64 / 4.0 + 0.01;
        // Hour 0 every second, hour 1 every 10 s, hour 2 every second then every 30 s, hour 3
        // every second: the interval changes, and the levels with it.
        let mut all: Vec<(Millis, f64)> = Vec::new();
        for (from, to, step) in [
            (0, 60, 1_000),
            (60, 120, 10_000),
            (120, 150, 1_000),
            (150, 180, 30_000),
            (180, 240, 1_000),
        ] {
            let rs: Vec<Reading> = (start + from * 60_000..start + to * 60_000)
                .step_by(step as usize)
                .map(|at| {
                    all.push((at, value(at)));
                    reading("m", at, value(at))
                })
                .collect();
            w.write(rs, Source::Http, now).unwrap();
        }
        w.maintain().unwrap();
        let c = rusqlite::Connection::open(&path).unwrap();
        let hours = |c: &rusqlite::Connection| -> Vec<i64> {
            c.prepare("SELECT (hour - ?1) / 3600000 FROM minute_rollups ORDER BY hour")
                .unwrap()
                .query_map([start], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(hours(&c), [0, 2, 3], "hour 1 (10 s) is read from its chunk");
        let reader = Reader::new(path.clone());
        let check = |all: &[(Millis, f64)]| {
            for points in [240, 48, 4, 1_440] {
                let plan = BucketPlan::new(start, start + 4 * HOUR, points).unwrap();
                let got = reader.range("m", "temperature", &plan).unwrap().unwrap();
                same_buckets(&got, &bucketize(&plan, all.iter().copied()));
            }
        };
        check(&all);
        // Late samples into sealed hours with and without minute rollups, and a resend: read
        // from `samples` beside them, then sealed into both.
        let late: Vec<(Millis, f64)> = [start + 500, start + 59 * 60_000 + 1, start + HOUR + 3_333]
            .into_iter()
            .map(|at| (at, 55.5))
            .collect();
        let mut rs: Vec<Reading> = late.iter().map(|(at, v)| reading("m", *at, *v)).collect();
        rs.push(reading("m", all[5].0, all[5].1));
        assert_eq!(w.write(rs, Source::Http, now).unwrap().stored, 3);
        all.extend(&late);
        all.sort_by_key(|s| s.0);
        check(&all);
        w.maintain().unwrap();
        assert_eq!(count_rows(&path, "samples"), 0, "sealed");
        assert_eq!(hours(&c), [0, 2, 3]);
        check(&all);
    }
}
