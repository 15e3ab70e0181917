//! The single writer: takes validated readings from every ingest path, group-commits whatever
//! has queued up in one transaction, answers each caller after the commit, then tells the hub.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clima_model::{Millis, Reading};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::StoreError;
use crate::hub::{Hub, LiveSample};
use crate::now_ms;

/// How readings reached Clima; shown per sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Http,
    LineProtocol,
    Push,
    Serial,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Http => "http",
            Source::LineProtocol => "line-protocol",
            Source::Push => "push",
            Source::Serial => "serial",
        }
    }
}

/// What a write stored: new samples, and samples already present (resent backlog).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Receipt {
    pub stored: usize,
    pub duplicates: usize,
}

/// Tuning of the writer; the defaults suit a home or lab.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Samples stay in the time-ordered table this long before moving to the per-series table.
    pub recent_window: Duration,
    /// How often the move runs.
    pub move_every: Duration,
    /// Most rows one move step takes, so a step never holds the writer long.
    pub move_step_rows: u32,
    /// Most samples one group commit takes; the rest wait for the next.
    pub max_group_samples: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            recent_window: Duration::from_secs(60),
            move_every: Duration::from_secs(5),
            move_step_rows: 20_000,
            max_group_samples: 50_000,
        }
    }
}

enum Msg {
    Write(Job),
    /// Stores one row of the settings table.
    Setting {
        key: String,
        value: String,
        reply: mpsc::SyncSender<Result<(), StoreError>>,
    },
    /// Commit what is queued, then stop.
    Stop,
}

struct Job {
    readings: Vec<Reading>,
    source: Source,
    received_at: Millis,
    reply: mpsc::SyncSender<Result<Receipt, StoreError>>,
}

/// Sends readings to the writer. Cheap to clone; every ingest path holds one.
#[derive(Clone)]
pub struct WriteHandle {
    tx: mpsc::SyncSender<Msg>,
}

impl WriteHandle {
    /// Stores readings and returns once they are committed (or failed). `received_at` is the
    /// host clock at receipt and stands in for a missing `measured_at`.
    pub fn write(
        &self,
        readings: Vec<Reading>,
        source: Source,
        received_at: Millis,
    ) -> Result<Receipt, StoreError> {
        if readings.is_empty() {
            return Ok(Receipt::default());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.tx
            .send(Msg::Write(Job {
                readings,
                source,
                received_at,
                reply,
            }))
            .map_err(|_| StoreError::Stopped)?;
        answer.recv().map_err(|_| StoreError::Stopped)?
    }

    /// Stores a setting (a port label, say); returns once committed.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.tx
            .send(Msg::Setting {
                key: key.to_owned(),
                value: value.to_owned(),
                reply,
            })
            .map_err(|_| StoreError::Stopped)?;
        answer.recv().map_err(|_| StoreError::Stopped)?
    }

    /// Asks the writer to commit everything queued so far and stop; later writes fail with
    /// [`StoreError::Stopped`].
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

/// Starts the writer thread on a migrated connection. It stops on [`WriteHandle::stop`] or once
/// every handle is dropped, after committing what was queued.
pub fn spawn_writer(
    conn: Connection,
    hub: Hub,
    cfg: WriterConfig,
) -> Result<(WriteHandle, JoinHandle<()>), StoreError> {
    let horizon: Millis = conn
        .query_row(
            "SELECT value FROM settings WHERE key = 'recent_horizon'",
            [],
            |r| r.get::<_, String>(0),
        )?
        .parse()
        .unwrap_or(0);
    // Checkpoints run on their own thread and connection, so copying pages back into the
    // database file never stalls a commit; the writer only appends to the WAL.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    let checkpointer = conn
        .path()
        .map(|p| Checkpointer::spawn(p.into()))
        .transpose()?;
    let (tx, rx) = mpsc::sync_channel(4096);
    let mut writer = Writer {
        checkpointer,
        conn,
        hub,
        cfg,
        horizon,
        sensors: HashMap::new(),
        series: HashMap::new(),
    };
    let thread = std::thread::Builder::new()
        .name("clima-writer".into())
        .spawn(move || writer.run(rx))
        .expect("spawning the writer thread");
    Ok((WriteHandle { tx }, thread))
}

struct Writer {
    conn: Connection,
    checkpointer: Option<Checkpointer>,
    hub: Hub,
    cfg: WriterConfig,
    /// Samples measured before this are in `samples`, the rest in `recent_samples`.
    horizon: Millis,
    sensors: HashMap<String, i64>,
    series: HashMap<i64, HashMap<String, i64>>,
}

/// The newest sample of one series within a commit.
struct Newest<'a> {
    at: Millis,
    value: f64,
    received_at: Millis,
    reading: &'a Reading,
    metric: &'a str,
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut next_move = Instant::now() + self.cfg.move_every;
        let mut stopping = false;
        while !stopping {
            let wait = next_move.saturating_duration_since(Instant::now());
            let first = match rx.recv_timeout(wait) {
                Ok(Msg::Write(job)) => Some(job),
                Ok(Msg::Setting { key, value, reply }) => {
                    let _ = reply.send(self.set_setting(&key, &value));
                    None
                }
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    stopping = true;
                    None
                }
                Err(mpsc::RecvTimeoutError::Timeout) => None,
            };
            if let Some(first) = first {
                let mut samples = count(&first);
                let mut group = vec![first];
                // Group commit: everything that queued up while the last commit ran goes in one
                // transaction. While stopping, drain the queue whatever its size.
                while samples < self.cfg.max_group_samples || stopping {
                    match rx.try_recv() {
                        Ok(Msg::Write(job)) => {
                            samples += count(&job);
                            group.push(job);
                        }
                        Ok(Msg::Stop) => stopping = true,
                        Ok(Msg::Setting { key, value, reply }) => {
                            let _ = reply.send(self.set_setting(&key, &value));
                        }
                        Err(_) => break,
                    }
                }
                self.commit_and_answer(group);
            } else if stopping {
                let rest: Vec<Job> = rx
                    .try_iter()
                    .filter_map(|m| match m {
                        Msg::Write(job) => Some(job),
                        Msg::Setting { key, value, reply } => {
                            let _ = reply.send(self.set_setting(&key, &value));
                            None
                        }
                        Msg::Stop => None,
                    })
                    .collect();
                if !rest.is_empty() {
                    self.commit_and_answer(rest);
                }
            }
            if Instant::now() >= next_move {
                let full_step = self.move_step(now_ms()).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "moving recent samples failed; will retry");
                    false
                });
                // A full step means more is waiting: take the next step right after the next group.
                next_move = if full_step {
                    Instant::now()
                } else {
                    Instant::now() + self.cfg.move_every
                };
            }
        }
        if let Some(c) = self.checkpointer.take() {
            c.stop();
        }
        // Leave a small WAL behind for the next start.
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "final checkpoint failed; the next start replays the WAL");
        }
        tracing::debug!("writer stopped");
    }

    fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            .map_err(StoreError::from_write)?;
        Ok(())
    }

    fn commit_and_answer(&mut self, group: Vec<Job>) {
        match self.commit(&group) {
            Ok((receipts, live)) => {
                for (job, receipt) in group.iter().zip(receipts) {
                    let _ = job.reply.send(Ok(receipt));
                }
                self.hub.publish(live);
            }
            Err(e) => {
                // The transaction rolled back: ids cached during it may not exist.
                self.sensors.clear();
                self.series.clear();
                tracing::error!(error = %e, readings = group.len(), "commit failed");
                for job in &group {
                    let _ = job.reply.send(Err(e.for_each_caller()));
                }
            }
        }
    }

    fn commit(&mut self, group: &[Job]) -> Result<(Vec<Receipt>, Vec<LiveSample>), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from_write)?;
        let mut receipts = Vec::with_capacity(group.len());
        let mut newest: HashMap<i64, Newest> = HashMap::new();
        let mut seen: HashMap<i64, (&Reading, Source, Millis)> = HashMap::new();
        {
            let (mut recent, mut old) = (Vec::new(), Vec::new());
            for job in group {
                recent.clear();
                old.clear();
                for reading in &job.readings {
                    let sensor = sensor_id(&tx, &mut self.sensors, reading, job)?;
                    seen.insert(sensor, (reading, job.source, job.received_at));
                    let at = reading.measured_at.unwrap_or(job.received_at);
                    for (metric, value) in &reading.values {
                        let series = series_id(&tx, &mut self.series, sensor, metric.as_str())?;
                        let row = Row {
                            series,
                            at,
                            value: *value,
                            received_at: job.received_at,
                        };
                        if at < self.horizon {
                            old.push(row)
                        } else {
                            recent.push(row)
                        }
                        // A duplicate may be picked here; the series update below ignores it,
                        // as it is never newer than what is stored.
                        if newest.get(&series).is_none_or(|n| n.at <= at) {
                            let n = Newest {
                                at,
                                value: *value,
                                received_at: job.received_at,
                                reading,
                                metric: metric.as_str(),
                            };
                            newest.insert(series, n);
                        }
                    }
                }
                let stored =
                    insert_rows(&tx, Table::Recent, &recent)? + insert_rows(&tx, Table::Old, &old)?;
                receipts.push(Receipt {
                    stored,
                    duplicates: recent.len() + old.len() - stored,
                });
            }
            let mut upd_sensor = tx.prepare_cached(
                "UPDATE sensors SET last_seen = max(last_seen, ?1), name = coalesce(?2, name), source = ?3 WHERE id = ?4",
            )?;
            for (id, (reading, source, received_at)) in &seen {
                upd_sensor.execute((received_at, reading.name.as_deref(), source.as_str(), id))?;
            }
        }
        let mut live = Vec::with_capacity(newest.len());
        {
            let mut upd_series = tx.prepare_cached(
                "UPDATE series SET last_value = ?1, last_measured_at = ?2, last_received_at = ?3
                 WHERE id = ?4 AND (last_measured_at IS NULL OR last_measured_at < ?2)",
            )?;
            for (id, n) in &newest {
                if upd_series.execute((n.value, n.at, n.received_at, id))? == 1 {
                    live.push(LiveSample {
                        sensor: n.reading.sensor.to_string(),
                        name: n.reading.name.clone(),
                        metric: n.metric.to_owned(),
                        unit: clima_model::metric::unit_of(n.metric),
                        value: n.value,
                        measured_at: n.at,
                        received_at: n.received_at,
                    });
                }
            }
        }
        tx.commit().map_err(StoreError::from_write)?;
        Ok((receipts, live))
    }

    /// Moves samples older than the recent window into the per-series table, at most
    /// `move_step_rows` at a time. Returns whether the step was capped (more is waiting).
    fn move_step(&mut self, now: Millis) -> Result<bool, StoreError> {
        let target = now - self.cfg.recent_window.as_millis() as Millis;
        if target <= self.horizon {
            return Ok(false);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from_write)?;
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
        tx.execute(
            "INSERT OR IGNORE INTO samples (series_id, measured_at, value, received_at)
             SELECT series_id, measured_at, value, received_at FROM recent_samples
             WHERE measured_at < ?1 ORDER BY series_id, measured_at",
            [cutoff],
        )?;
        let moved = tx.execute(
            "DELETE FROM recent_samples WHERE measured_at < ?1",
            [cutoff],
        )?;
        tx.execute(
            "UPDATE settings SET value = ?1 WHERE key = 'recent_horizon'",
            [cutoff.to_string()],
        )?;
        tx.commit().map_err(StoreError::from_write)?;
        self.horizon = cutoff;
        if moved > 0 {
            tracing::debug!(moved, cutoff, "moved recent samples");
        }
        Ok(nth.is_some())
    }
}

/// Copies committed WAL pages into the database file in the background.
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: JoinHandle<()>,
}

/// How often the checkpointer runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

impl Checkpointer {
    fn spawn(path: std::path::PathBuf) -> Result<Checkpointer, StoreError> {
        use std::sync::atomic::Ordering;
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("clima-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    // PASSIVE never waits for the writer or readers; what it cannot copy now it
                    // copies next time.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::debug!(error = %e, "checkpoint deferred");
                    }
                }
            })
            .map_err(|e| StoreError::Failed(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// One sample as stored.
struct Row {
    series: i64,
    at: Millis,
    value: f64,
    received_at: Millis,
}

#[derive(Clone, Copy)]
enum Table {
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
            format!("INSERT OR IGNORE INTO {name} (series_id, measured_at, value, received_at) VALUES {values}")
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

/// Inserts rows, skipping those already stored; returns how many were new.
fn insert_rows(
    tx: &rusqlite::Transaction,
    table: Table,
    rows: &[Row],
) -> Result<usize, StoreError> {
    let mut stored = 0;
    let mut run = |rows: &[Row]| -> Result<(), StoreError> {
        let mut stmt = tx.prepare_cached(insert_sql(table, rows.len() > 1))?;
        for (i, r) in rows.iter().enumerate() {
            stmt.raw_bind_parameter(4 * i + 1, r.series)?;
            stmt.raw_bind_parameter(4 * i + 2, r.at)?;
            stmt.raw_bind_parameter(4 * i + 3, r.value)?;
            stmt.raw_bind_parameter(4 * i + 4, r.received_at)?;
        }
        stored += stmt.raw_execute().map_err(StoreError::from_write)?;
        Ok(())
    };
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
    for chunk in &mut chunks {
        run(chunk)?;
    }
    for row in chunks.remainder() {
        run(std::slice::from_ref(row))?;
    }
    Ok(stored)
}

fn count(job: &Job) -> usize {
    job.readings.iter().map(|r| r.values.len()).sum()
}

fn sensor_id(
    tx: &rusqlite::Transaction,
    cache: &mut HashMap<String, i64>,
    reading: &Reading,
    job: &Job,
) -> Result<i64, StoreError> {
    let key = reading.sensor.as_str();
    if let Some(id) = cache.get(key) {
        return Ok(*id);
    }
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM sensors WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => {
            tx.prepare_cached(
                "INSERT INTO sensors (key, name, source, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
            )?
            .execute((key, reading.name.as_deref(), job.source.as_str(), job.received_at))
            .map_err(StoreError::from_write)?;
            tx.last_insert_rowid()
        }
    };
    cache.insert(key.to_owned(), id);
    Ok(id)
}

fn series_id(
    tx: &rusqlite::Transaction,
    cache: &mut HashMap<i64, HashMap<String, i64>>,
    sensor: i64,
    metric: &str,
) -> Result<i64, StoreError> {
    let cache = cache.entry(sensor).or_default();
    if let Some(id) = cache.get(metric) {
        return Ok(*id);
    }
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM series WHERE sensor_id = ?1 AND metric = ?2")?
        .query_row((sensor, metric), |r| r.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => {
            tx.prepare_cached("INSERT INTO series (sensor_id, metric) VALUES (?1, ?2)")?
                .execute((sensor, metric))
                .map_err(StoreError::from_write)?;
            tx.last_insert_rowid()
        }
    };
    cache.insert(metric.to_owned(), id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open, Reader};
    use clima_model::downsample::BucketPlan;
    use clima_model::SensorId;

    fn reading(sensor: &str, at: Millis, value: f64) -> Reading {
        let mut d = clima_model::reading::Draft::default();
        d.metric("temperature", value).unwrap();
        d.measured_at = Some(at);
        d.finish(&SensorId::parse(sensor).unwrap()).unwrap()
    }

    fn count_rows(path: &std::path::Path, table: &str) -> i64 {
        let c = Connection::open(path).unwrap();
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn moves_old_samples_in_capped_steps_and_keeps_dedupe_across_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let cfg = WriterConfig {
            recent_window: Duration::ZERO,
            move_every: Duration::from_millis(20),
            move_step_rows: 50,
            max_group_samples: 1000,
        };
        let hub = Hub::default();
        let mut live = hub.subscribe();
        let (w, thread) = spawn_writer(open(&path).unwrap(), hub, cfg).unwrap();
        let t0 = now_ms() - 10_000;
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
        let deadline = Instant::now() + Duration::from_secs(10);
        while count_rows(&path, "recent_samples") > 0 {
            assert!(Instant::now() < deadline, "recent samples were not moved");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(count_rows(&path, "samples"), 220);
        // Resending now goes to the per-series table and is still recognised.
        let again = w.write(spread, Source::Http, t0).unwrap();
        assert_eq!(
            again,
            Receipt {
                stored: 0,
                duplicates: 100
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
    fn older_reading_does_not_replace_latest_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let (w, _t) = spawn_writer(
            open(&path).unwrap(),
            Hub::default(),
            WriterConfig::default(),
        )
        .unwrap();
        let t0 = now_ms();
        w.write(vec![reading("x", t0, 2.0)], Source::Http, t0)
            .unwrap();
        w.write(vec![reading("x", t0 - 60_000, 1.0)], Source::Http, t0)
            .unwrap();
        let sensors = Reader::new(path).sensors().unwrap();
        assert_eq!(sensors[0].metrics[0].value, Some(2.0));
        assert_eq!(sensors[0].metrics[0].measured_at, Some(t0));
    }
}
