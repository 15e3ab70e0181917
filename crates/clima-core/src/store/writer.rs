//! The single writer: takes validated readings from every ingest path, group-commits whatever
//! has queued up in one transaction, answers each caller after the commit, then tells the hub.

// foldhash: several times faster than std's SipHash on these small keys, and randomly seeded
// per process like it, so sensor-chosen keys cannot be lined up to collide.
use foldhash::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clima_model::downsample::Partial;
use clima_model::{chunk, Millis, Reading, HOUR, MINUTE};
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
    Import,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Http => "http",
            Source::LineProtocol => "line-protocol",
            Source::Push => "push",
            Source::Serial => "serial",
            Source::Import => "import",
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
    /// Samples stay in the time-ordered table this long before moving into pieces.
    pub recent_window: Duration,
    /// How often the move runs.
    pub move_every: Duration,
    /// Most rows one move step takes, so a step never holds the writer long.
    pub move_step_rows: u32,
    /// Most samples one group commit takes; the rest wait for the next.
    pub max_group_samples: usize,
    /// How long raw samples and minute rollups are kept (`None`: forever). Hour rollups are
    /// kept forever.
    pub retention: Retention,
    /// Whether a commit waits for the disk.
    pub durability: Durability,
}

/// What a commit survives. Either way a killed process loses nothing acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// SQLite's WAL with `synchronous = NORMAL`: a power cut or kernel crash can lose the
    /// commits since the last checkpoint's sync (at most a few seconds); the file stays sound.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is synced to the disk before it is acknowledged.
    Full,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// How long each kind of data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: Option<Duration>,
    pub minute: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw: Some(Duration::from_secs(30 * 86_400)),
            minute: Some(Duration::from_secs(365 * 86_400)),
        }
    }
}

/// Most rows one pruning step deletes from one table, so a step holds the writer a few ms.
const PRUNE_STEP_ROWS: i64 = 2_000;
/// Most hours of one series' late samples one sealing step packs.
const SEAL_STEP_HOURS: usize = 8;
/// Most samples one step sealing pieces packs (it always takes at least one series).
const SEAL_STEP_SAMPLES: i64 = 100_000;

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

/// Removes rows whose time is already in their hour's chunk or pieces (a resent backlog).
/// `sealed` caches each hour's times for the commit.
fn drop_packed_duplicates(
    tx: &rusqlite::Transaction,
    rows: &mut Vec<Row>,
    sealed: &mut HashMap<(i64, Millis), Vec<Millis>>,
) -> Result<(), StoreError> {
    for r in rows.iter() {
        let key = (r.series, r.sample.at.div_euclid(HOUR) * HOUR);
        if let std::collections::hash_map::Entry::Vacant(e) = sealed.entry(key) {
            let times = load_hour(tx, key.0, key.1)?
                .into_iter()
                .map(|s| s.at)
                .collect();
            e.insert(times);
        }
    }
    rows.retain(|r| {
        let times = &sealed[&(r.series, r.sample.at.div_euclid(HOUR) * HOUR)];
        times.binary_search(&r.sample.at).is_err()
    });
    Ok(())
}

/// The hour holding `t`, if it ended more than an hour before `now` and may be sealed.
fn sealable(t: Millis, now: Millis) -> Option<Millis> {
    let hour = t.div_euclid(HOUR) * HOUR;
    (hour + HOUR <= now.div_euclid(HOUR) * HOUR - HOUR).then_some(hour)
}

/// Rewrites one series' hour as a single chunk: `packed` (its chunk and pieces, in time order)
/// and its late samples, of which a time already packed is dropped, as the packed copy was
/// stored first. Removes the late samples; the caller removes the pieces.
fn seal_hour(
    tx: &rusqlite::Transaction,
    series: i64,
    hour: Millis,
    packed: Vec<chunk::Sample>,
) -> Result<(), StoreError> {
    let range = (series, hour, hour + HOUR);
    let mut rows: Vec<chunk::Sample> = tx
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
    if !packed.is_empty() {
        rows.retain(|r| packed.binary_search_by_key(&r.at, |s| s.at).is_err());
        rows.extend(packed);
        rows.sort_by_key(|s| s.at);
    }
    tx.prepare_cached(
        "INSERT OR REPLACE INTO chunks (series_id, start, count, data) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute((series, hour, rows.len() as i64, chunk::encode(&rows)))?;
    tx.prepare_cached(
        "DELETE FROM samples WHERE series_id = ?1 AND measured_at >= ?2 AND measured_at < ?3",
    )?
    .execute(range)?;
    Ok(())
}

/// One series' sealed hour, if it has a chunk.
fn load_chunk(c: &Connection, series: i64, hour: Millis) -> Result<Vec<chunk::Sample>, StoreError> {
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

/// Decodes the chunk or piece in a query row's first column.
pub(super) fn unpack(row: &rusqlite::Row) -> Result<Vec<chunk::Sample>, StoreError> {
    let data = row.get_ref(0)?.as_blob().map_err(|e| damaged(&e))?;
    unpack_blob(data)
}

fn unpack_blob(data: &[u8]) -> Result<Vec<chunk::Sample>, StoreError> {
    chunk::decode(data).map_err(|e| damaged(&e))
}

fn damaged(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Failed(format!(
        "stored samples are damaged ({e}): restore the database from a backup or export what still reads"
    ))
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            recent_window: Duration::from_secs(60),
            move_every: Duration::from_secs(5),
            move_step_rows: 20_000,
            max_group_samples: 50_000,
            retention: Retention::default(),
            durability: Durability::default(),
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
    /// Run every maintenance step (move, seal, prune) until none has work left.
    Maintain(mpsc::SyncSender<Result<(), StoreError>>),
    /// Commit what is queued, then stop.
    Stop,
}

struct Job {
    readings: Vec<Reading>,
    source: Source,
    received_at: Millis,
    /// Per-reading receipt times (imports); empty means `received_at` for all.
    received: Vec<Millis>,
    done: Done,
}

/// Called on the writer thread with a write's outcome, once committed (or failed). It must be
/// quick: hand the result on, never block.
pub type Done = Box<dyn FnOnce(Result<Receipt, StoreError>) + Send>;

/// Sends readings to the writer. Cheap to clone; every ingest path holds one.
#[derive(Clone)]
pub struct WriteHandle {
    tx: mpsc::SyncSender<Msg>,
    problem: Arc<Mutex<Option<String>>>,
}

impl WriteHandle {
    /// Why the last commit failed, while commits keep failing (a full disk, a read-only file);
    /// `None` once one succeeds again.
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().expect("store problem").clone()
    }

    /// Stores readings and returns once they are committed (or failed). `received_at` is the
    /// host clock at receipt and stands in for a missing `measured_at`.
    pub fn write(
        &self,
        readings: Vec<Reading>,
        source: Source,
        received_at: Millis,
    ) -> Result<Receipt, StoreError> {
        self.send(readings, source, received_at, Vec::new())
    }

    /// Stores readings that keep the receipt time they had elsewhere (an import): one time per
    /// reading, in order.
    pub fn write_imported(
        &self,
        readings: Vec<Reading>,
        received: Vec<Millis>,
    ) -> Result<Receipt, StoreError> {
        debug_assert_eq!(readings.len(), received.len());
        let received_at = received.first().copied().unwrap_or(0);
        self.send(readings, Source::Import, received_at, received)
    }

    /// Queues readings and returns at once; `done` gets the outcome after the commit. This is
    /// how request handlers avoid waiting on a thread of their own.
    pub fn write_then(
        &self,
        readings: Vec<Reading>,
        source: Source,
        received_at: Millis,
        done: Done,
    ) {
        self.queue(readings, source, received_at, Vec::new(), done);
    }

    fn queue(
        &self,
        readings: Vec<Reading>,
        source: Source,
        received_at: Millis,
        received: Vec<Millis>,
        done: Done,
    ) {
        if readings.is_empty() {
            return done(Ok(Receipt::default()));
        }
        let job = Job {
            readings,
            source,
            received_at,
            received,
            done,
        };
        if let Err(mpsc::SendError(Msg::Write(job))) = self.tx.send(Msg::Write(job)) {
            (job.done)(Err(StoreError::Stopped));
        }
    }

    fn send(
        &self,
        readings: Vec<Reading>,
        source: Source,
        received_at: Millis,
        received: Vec<Millis>,
    ) -> Result<Receipt, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let done: Done = Box::new(move |result| {
            let _ = reply.send(result);
        });
        self.queue(readings, source, received_at, received, done);
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

    /// Moves, seals and prunes everything that is due now, and returns when done: for tools
    /// and tests that need the final layout at once rather than over the next ticks.
    pub fn maintain(&self) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.tx
            .send(Msg::Maintain(reply))
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
    conn.pragma_update(None, "synchronous", cfg.durability.pragma())?;
    conn.pragma_update(None, "cache_size", -4_000)?;
    let checkpointer = conn
        .path()
        .map(|p| Checkpointer::spawn(p.into()))
        .transpose()?;
    let (tx, rx) = mpsc::sync_channel(4096);
    let problem = Arc::new(Mutex::new(None));
    let mut writer = Writer {
        problem: problem.clone(),
        checkpointer,
        conn,
        hub,
        cfg,
        horizon,
        sensors: HashMap::default(),
        series: HashMap::default(),
        series_cursor: 0,
    };
    let thread = std::thread::Builder::new()
        .name("clima-writer".into())
        .spawn(move || writer.run(rx))
        .expect("spawning the writer thread");
    Ok((WriteHandle { tx, problem }, thread))
}

struct Writer {
    conn: Connection,
    problem: Arc<Mutex<Option<String>>>,
    checkpointer: Option<Checkpointer>,
    hub: Hub,
    cfg: WriterConfig,
    /// Samples measured before this are packed (pieces, chunks) or late (`samples`), the rest
    /// in `recent_samples`.
    horizon: Millis,
    sensors: HashMap<String, i64>,
    series: HashMap<i64, HashMap<String, Known>>,
    /// The last series sealing and pruning finished with.
    series_cursor: i64,
}

/// A series as the writer caches it.
#[derive(Debug, Clone, Copy)]
struct Known {
    id: i64,
    /// The latest `measured_at` it holds, as of the last commit: a sample after it cannot be a
    /// duplicate.
    newest: Option<Millis>,
}

/// The newest sample of one series within a commit.
struct Newest<'a> {
    sensor: i64,
    at: Millis,
    value: f64,
    received_at: Millis,
    reading: &'a Reading,
    metric: &'a str,
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut next_tick = Instant::now() + self.cfg.move_every;
        let mut stopping = false;
        while !stopping {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let mut group = Vec::new();
            let mut samples = 0;
            match rx.recv_timeout(wait) {
                Ok(msg) => {
                    self.take(msg, &mut group, &mut samples, &mut stopping);
                    // Group commit: everything that queued up while the last commit ran goes in
                    // one transaction. While stopping, drain the queue whatever its size.
                    while samples < self.cfg.max_group_samples || stopping {
                        match rx.try_recv() {
                            Ok(msg) => self.take(msg, &mut group, &mut samples, &mut stopping),
                            Err(_) => break,
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => stopping = true,
            }
            if !group.is_empty() {
                self.commit_and_answer(group);
            }
            if Instant::now() >= next_tick {
                // More work waiting means the next tick comes right after the next group.
                let busy = self.tick(now_ms()).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "store maintenance failed; will retry");
                    false
                });
                next_tick = Instant::now()
                    + if busy {
                        Duration::ZERO
                    } else {
                        self.cfg.move_every
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
            ?;
        Ok(())
    }

    fn commit_and_answer(&mut self, group: Vec<Job>) {
        let horizon = self.horizon;
        let outcome = self.commit(&group);
        match outcome {
            Ok((receipts, live)) => {
                if self.problem.lock().expect("store problem").take().is_some() {
                    tracing::info!("commits succeed again; ingest has resumed");
                }
                for (job, receipt) in group.into_iter().zip(receipts) {
                    (job.done)(Ok(receipt));
                }
                self.hub.publish(live);
            }
            Err(e) => {
                // The transaction rolled back: ids cached during it may not exist, and the
                // horizon it moved is back where it was.
                self.sensors.clear();
                self.series.clear();
                self.horizon = horizon;
                let e = e.for_each_caller();
                tracing::error!(error = %e, requests = group.len(), "commit failed");
                *self.problem.lock().expect("store problem") = Some(e.to_string());
                for job in group {
                    (job.done)(Err(e.for_each_caller()));
                }
            }
        }
    }

    fn commit(&mut self, group: &[Job]) -> Result<(Vec<Receipt>, Vec<LiveSample>), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        advance_horizon(&tx, &mut self.horizon, self.cfg.recent_window, now_ms())?;
        let mut receipts = Vec::with_capacity(group.len());
        let mut newest: HashMap<i64, Newest> = HashMap::default();
        let mut seen: HashMap<i64, (&Reading, Source, Millis)> = HashMap::default();
        let mut rolled = Rollups::default();
        let mut sealed = HashMap::default();
        let mut fresh = Runs::default();
        {
            let (mut recent, mut old) = (Vec::new(), Vec::new());
            for (j, job) in group.iter().enumerate() {
                recent.clear();
                old.clear();
                let mut packed = 0;
                for (i, reading) in job.readings.iter().enumerate() {
                    let received_at = job.received.get(i).copied().unwrap_or(job.received_at);
                    let sensor = sensor_id(&tx, &mut self.sensors, reading, job)?;
                    seen.insert(sensor, (reading, job.source, received_at));
                    let at = reading.measured_at.unwrap_or(received_at);
                    for (metric, value) in &reading.values {
                        let known = series_id(&tx, &mut self.series, sensor, metric.as_str())?;
                        let series = known.id;
                        let sample = chunk::Sample {
                            at,
                            received_at,
                            value: *value,
                        };
                        if at >= self.horizon {
                            recent.push(Row { series, sample })
                        } else if known.newest.is_none_or(|n| at > n) {
                            fresh.add(series, j, sample);
                            packed += 1;
                        } else {
                            old.push(Row { series, sample })
                        }
                        // A duplicate may be picked here; the series update below ignores it,
                        // as it is never newer than what is stored.
                        if newest.get(&series).is_none_or(|n| n.at <= at) {
                            let n = Newest {
                                sensor,
                                at,
                                value: *value,
                                received_at,
                                reading,
                                metric: metric.as_str(),
                            };
                            newest.insert(series, n);
                        }
                    }
                }
                // Fresh samples are new by construction; repeats within the commit are
                // counted when their pieces are packed.
                let attempted = recent.len() + old.len() + packed;
                drop_packed_duplicates(&tx, &mut old, &mut sealed)?;
                let stored = insert_rows(&tx, Table::Recent, &recent, &mut rolled)?
                    + insert_rows(&tx, Table::Old, &old, &mut rolled)?
                    + packed;
                receipts.push(Receipt {
                    stored,
                    duplicates: attempted - stored,
                });
            }
            let repeats = fresh.insert(&tx, group.len(), &mut rolled)?;
            for (receipt, repeats) in receipts.iter_mut().zip(repeats) {
                receipt.stored -= repeats;
                receipt.duplicates += repeats;
            }
            rolled.upsert(&tx)?;
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
        tx.commit()?;
        for n in newest.values() {
            if let Some(known) = self
                .series
                .get_mut(&n.sensor)
                .and_then(|m| m.get_mut(n.metric))
            {
                known.newest = known.newest.max(Some(n.at));
            }
        }
        Ok((receipts, live))
    }

    /// Files one message: writes join the group, the rest are answered at once.
    fn take(&mut self, msg: Msg, group: &mut Vec<Job>, samples: &mut usize, stopping: &mut bool) {
        match msg {
            Msg::Write(job) => {
                *samples += count(&job);
                group.push(job);
            }
            Msg::Setting { key, value, reply } => {
                let _ = reply.send(self.set_setting(&key, &value));
            }
            Msg::Maintain(reply) => {
                // Writes sent before the request are part of what it waits for.
                if !group.is_empty() {
                    self.commit_and_answer(std::mem::take(group));
                    *samples = 0;
                }
                let _ = reply.send(self.maintain_all(now_ms()));
            }
            Msg::Stop => *stopping = true,
        }
    }

    /// One round of upkeep between commits: a move step, a step sealing pieces, and sealing and
    /// pruning for the next series. Returns whether more is waiting.
    fn tick(&mut self, now: Millis) -> Result<bool, StoreError> {
        let waiting = self.move_step(now)? | self.seal_pieces(now)?;
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
    fn maintain_all(&mut self, now: Millis) -> Result<(), StoreError> {
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
            (
                "rollup_minute",
                "t",
                cutoff(retention.minute),
                PRUNE_STEP_ROWS,
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
            seal_hour(&tx, series, hour, load_hour(&tx, series, hour)?)?;
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
            let mut packed = load_chunk(&tx, series, hour)?;
            let mut piece =
                tx.prepare_cached("SELECT data FROM pieces WHERE first = ?1 AND series_id = ?2")?;
            let mut delete =
                tx.prepare_cached("DELETE FROM pieces WHERE first = ?1 AND series_id = ?2")?;
            for first in firsts {
                let data: Vec<u8> = piece.query_row((first, series), |r| r.get(0))?;
                packed.extend(unpack_blob(&data)?);
                delete.execute((first, series))?;
            }
            packed.sort_by_key(|s| s.at);
            seal_hour(&tx, series, hour, packed)?;
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
                runs.add(r.get(0)?, 0, sample);
            }
        }
        let mut rolled = Rollups::default();
        runs.insert(&tx, 1, &mut rolled)?;
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

/// The rollup tables and the period each sums, in milliseconds.
pub(super) const ROLLUPS: [(&str, i64); 2] = [("rollup_minute", MINUTE), ("rollup_hour", HOUR)];

/// Adds a new partial aggregate to the row already there.
const ROLLUP_MERGE: &str = "ON CONFLICT (series_id, t) DO UPDATE SET sum = sum + excluded.sum, \
    min = min(min, excluded.min), max = max(max, excluded.max), count = count + excluded.count";

/// Samples newly stored outside `recent_samples` by one commit or move, summed per series and
/// period.
#[derive(Default)]
struct Rollups {
    periods: [HashMap<(i64, Millis), Partial>; 2],
}

impl Rollups {
    fn add(&mut self, series: i64, at: Millis, value: f64) {
        self.add_partial(series, at, Partial::of(value));
    }

    /// Adds one series' samples in time order, summing each minute before touching the maps.
    fn add_run(&mut self, series: i64, run: &[chunk::Sample]) {
        for minute in run.chunk_by(|a, b| a.at.div_euclid(MINUTE) == b.at.div_euclid(MINUTE)) {
            let mut p = Partial::of(minute[0].value);
            for s in &minute[1..] {
                p.merge(&Partial::of(s.value));
            }
            self.add_partial(series, minute[0].at, p);
        }
    }

    fn add_partial(&mut self, series: i64, at: Millis, p: Partial) {
        for ((_, period), map) in ROLLUPS.iter().zip(self.periods.iter_mut()) {
            let key = (series, at - at.rem_euclid(*period));
            map.entry(key).and_modify(|e| e.merge(&p)).or_insert(p);
        }
    }

    fn upsert(&self, tx: &rusqlite::Transaction) -> Result<(), StoreError> {
        for ((table, _), map) in ROLLUPS.iter().zip(self.periods.iter()) {
            if map.is_empty() {
                continue;
            }
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT INTO {table} (series_id, t, sum, min, max, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6) {ROLLUP_MERGE}"
            ))?;
            for ((series, t), p) in map {
                stmt.execute((series, t, p.sum, p.min, p.max, p.count as i64))?;
            }
        }
        Ok(())
    }
}

/// One sample as stored.
struct Row {
    series: i64,
    sample: chunk::Sample,
}

/// Samples on their way into pieces, gathered per series: from a commit, those older than the
/// recent window and newer than everything their series held when it began; from a move, the
/// rows leaving `recent_samples`.
#[derive(Default)]
struct Runs {
    slot: HashMap<i64, usize>,
    runs: Vec<Run>,
}

/// One series' samples in a [`Runs`], each with the job of the group it came from.
struct Run {
    series: i64,
    samples: Vec<(usize, chunk::Sample)>,
}

impl Runs {
    fn add(&mut self, series: i64, job: usize, sample: chunk::Sample) {
        let next = self.runs.len();
        let i = *self.slot.entry(series).or_insert(next);
        if i == next {
            self.runs.push(Run {
                series,
                samples: Vec::new(),
            });
        }
        self.runs[i].samples.push((job, sample));
    }

    /// Puts each series' samples in time order, keeping the first copy of a time sent twice,
    /// and writes them as one piece per series and hour, adding them to the rollups. Returns
    /// the copies dropped, per job.
    fn insert(
        self,
        tx: &rusqlite::Transaction,
        jobs: usize,
        rolled: &mut Rollups,
    ) -> Result<Vec<usize>, StoreError> {
        let mut repeats = vec![0; jobs];
        let mut stmt = tx.prepare_cached(
            "INSERT INTO pieces (series_id, first, count, data) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut kept: Vec<chunk::Sample> = Vec::new();
        for Run {
            series,
            mut samples,
        } in self.runs
        {
            // Stable, so the first copy of a time stays first; usually already in order.
            if !samples.is_sorted_by_key(|(_, s)| s.at) {
                samples.sort_by_key(|(_, s)| s.at);
            }
            kept.clear();
            for (job, s) in samples {
                if kept.last().is_some_and(|k| k.at == s.at) {
                    repeats[job] += 1;
                } else {
                    kept.push(s);
                }
            }
            for piece in kept.chunk_by(|a, b| a.at.div_euclid(HOUR) == b.at.div_euclid(HOUR)) {
                rolled.add_run(series, piece);
                stmt.execute((
                    series,
                    piece[0].at,
                    piece.len() as i64,
                    chunk::encode(piece),
                ))?;
            }
        }
        Ok(repeats)
    }
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

/// Inserts rows, skipping those already stored; returns how many were new.
/// Rows new to `samples` are added to `rolled` for the rollups.
fn insert_rows(
    tx: &rusqlite::Transaction,
    table: Table,
    rows: &[Row],
    rolled: &mut Rollups,
) -> Result<usize, StoreError> {
    let mut stored = 0;
    let mut run = |rows: &[Row]| -> Result<(), StoreError> {
        let mut stmt = tx.prepare_cached(insert_sql(table, rows.len() > 1))?;
        for (i, r) in rows.iter().enumerate() {
            stmt.raw_bind_parameter(4 * i + 1, r.series)?;
            stmt.raw_bind_parameter(4 * i + 2, r.sample.at)?;
            stmt.raw_bind_parameter(4 * i + 3, r.sample.value)?;
            stmt.raw_bind_parameter(4 * i + 4, r.sample.received_at)?;
        }
        match table {
            Table::Recent => stored += stmt.raw_execute()?,
            Table::Old => {
                let mut returned = stmt.raw_query();
                while let Some(row) = returned.next()? {
                    rolled.add(row.get(0)?, row.get(1)?, row.get(2)?);
                    stored += 1;
                }
            }
        }
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

/// Moves the horizon up to the recent window's start when no recent sample lies below it
/// (a fresh database, or the move has caught up), so that old readings (a backlog, an
/// import) go straight to pieces or `samples` instead of through `recent_samples`.
fn advance_horizon(
    tx: &rusqlite::Transaction,
    horizon: &mut Millis,
    window: Duration,
    now: Millis,
) -> Result<(), StoreError> {
    let target = now - window.as_millis() as Millis;
    if target <= *horizon + 1_000 {
        return Ok(());
    }
    let below: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM recent_samples WHERE measured_at < ?1 LIMIT 1")?
        .query_row([target], |r| r.get(0))
        .optional()?;
    if below.is_none() {
        tx.prepare_cached("UPDATE settings SET value = ?1 WHERE key = 'recent_horizon'")?
            .execute([target.to_string()])?;
        *horizon = target;
    }
    Ok(())
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
            ?;
            tx.last_insert_rowid()
        }
    };
    cache.insert(key.to_owned(), id);
    Ok(id)
}

fn series_id(
    tx: &rusqlite::Transaction,
    cache: &mut HashMap<i64, HashMap<String, Known>>,
    sensor: i64,
    metric: &str,
) -> Result<Known, StoreError> {
    let cache = cache.entry(sensor).or_default();
    if let Some(known) = cache.get(metric) {
        return Ok(*known);
    }
    let existing = tx
        .prepare_cached(
            "SELECT id, last_measured_at FROM series WHERE sensor_id = ?1 AND metric = ?2",
        )?
        .query_row((sensor, metric), |r| {
            Ok(Known {
                id: r.get(0)?,
                newest: r.get(1)?,
            })
        })
        .optional()?;
    let known = match existing {
        Some(known) => known,
        None => {
            tx.prepare_cached("INSERT INTO series (sensor_id, metric) VALUES (?1, ?2)")?
                .execute((sensor, metric))?;
            Known {
                id: tx.last_insert_rowid(),
                newest: None,
            }
        }
    };
    cache.insert(metric.to_owned(), known);
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open, Reader};
    use clima_model::downsample::BucketPlan;
    use clima_model::SensorId;

    /// A fresh database path in a folder that lives as long as the returned guard.
    fn temp_db(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{name}.db"));
        (dir, path)
    }

    /// A writer with the default settings on a fresh database.
    fn default_writer(name: &str) -> (tempfile::TempDir, std::path::PathBuf, WriteHandle) {
        let (dir, path) = temp_db(name);
        let (w, _thread) = spawn_writer(
            open(&path).unwrap(),
            Hub::default(),
            WriterConfig::default(),
        )
        .unwrap();
        (dir, path, w)
    }

    /// Buckets equal but for rounding in the means (sums are added in another order).
    fn same_buckets(
        got: &[clima_model::downsample::Bucket],
        want: &[clima_model::downsample::Bucket],
    ) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            let means = match (g.mean, w.mean) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                (a, b) => a == b,
            };
            assert!(
                (g.t, g.count, g.min, g.max) == (w.t, w.count, w.min, w.max) && means,
                "bucket {g:?} != {w:?}"
            );
        }
    }

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
        let rows = super::super::export::export_csv(
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
            || oldest("SELECT min(t) FROM rollup_minute") < now - 4 * hour - 60_000
        {
            assert!(Instant::now() < deadline, "pruning did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
        let chunks: i64 = c
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
            .unwrap();
        assert!(chunks > 0, "old hours were sealed");
        assert_eq!(
            oldest("SELECT min(t) FROM rollup_hour"),
            start,
            "hour rollups are kept forever"
        );
        // A chart of the whole range still shows every sample, from the hour rollups.
        let plan = BucketPlan::new(start, start + 6 * hour, 6).unwrap();
        let buckets = Reader::new(path.clone())
            .range("a", "temperature", &plan)
            .unwrap()
            .unwrap();
        assert!(buckets.iter().all(|b| b.count == 1_800), "{buckets:?}");
    }

    #[test]
    fn a_backlog_is_packed_per_series_and_hour_and_read_back_exactly() {
        use clima_model::downsample::bucketize;
        let (_dir, path, w) = default_writer("pieces");
        let now = now_ms();
        let start = (now - 5 * HOUR).div_euclid(HOUR) * HOUR;
        let value = |i: i64| 18.0 + (i % 300) as f64 / 10.0;
        let mut all: HashMap<&str, Vec<(Millis, f64)>> = HashMap::default();
        let mut batch = Vec::new();
        for i in 0..7_200 {
            for sensor in ["p", "q"] {
                let at = start + i * 1_000;
                all.entry(sensor).or_default().push((at, value(i)));
                batch.push(reading(sensor, at, value(i)));
            }
        }
        // The same time twice in one batch: the first copy is kept.
        batch.push(reading("p", start + 60_000, 150.0));
        let receipt = w.write(batch, Source::Http, now).unwrap();
        assert_eq!(
            receipt,
            Receipt {
                stored: 14_400,
                duplicates: 1
            }
        );
        let c = Connection::open(&path).unwrap();
        let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT count(*) FROM pieces"),
            4,
            "2 series x 2 hours"
        );
        assert_eq!(count("SELECT sum(count) FROM pieces"), 14_400);
        assert_eq!(count("SELECT count(*) FROM samples"), 0);
        // Not newer than what the series holds: a late sample goes to `samples`, a resend is
        // recognised against the pieces; then the backlog goes on, in a new piece.
        let late = (start + 500, 99.5);
        all.get_mut("p").unwrap().push(late);
        let mut batch = vec![reading("p", late.0, late.1)];
        batch.extend(all["q"][..10].iter().map(|(at, v)| reading("q", *at, *v)));
        let more: Vec<(Millis, f64)> = (0..100)
            .map(|i| (start + 2 * HOUR + i * 1_000, value(i)))
            .collect();
        batch.extend(more.iter().map(|(at, v)| reading("p", *at, *v)));
        all.get_mut("p").unwrap().extend(&more);
        let receipt = w.write(batch, Source::Http, now).unwrap();
        assert_eq!(
            receipt,
            Receipt {
                stored: 101,
                duplicates: 10
            }
        );
        assert_eq!(count("SELECT count(*) FROM samples"), 1);
        assert_eq!(count("SELECT count(*) FROM pieces"), 5);
        let reader = Reader::new(path.clone());
        let check = |when: &str| {
            for (sensor, samples) in &all {
                for points in [5_000, 3] {
                    let plan = BucketPlan::new(start, start + 3 * HOUR, points).unwrap();
                    let got = reader.range(sensor, "temperature", &plan).unwrap().unwrap();
                    let want = bucketize(&plan, samples.iter().copied());
                    assert!(
                        got.iter().all(|b| b.max != Some(150.0)),
                        "{when}: repeat kept"
                    );
                    same_buckets(&got, &want);
                }
            }
        };
        check("in pieces");
        // Sealing merges each hour's pieces and late samples into one chunk.
        w.maintain().unwrap();
        assert_eq!(count("SELECT count(*) FROM pieces"), 0);
        assert_eq!(count("SELECT count(*) FROM samples"), 0);
        assert_eq!(count("SELECT count(*) FROM chunks"), 5);
        assert_eq!(count("SELECT sum(count) FROM chunks"), 14_400 + 101);
        check("sealed");
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

    #[test]
    fn older_reading_does_not_replace_latest_value() {
        let (_dir, path, w) = default_writer("l");
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
