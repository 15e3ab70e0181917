//! The single writer: takes validated readings from every ingest path, group-commits whatever
//! has queued up in one transaction, answers each caller after the commit, then tells the hub.
//!
//! The handle, the configuration and the thread loop live here; `commit` stores a batch,
//! `upkeep` moves, seals and prunes between commits, and `checkpoint` copies the WAL into the
//! database file.

mod checkpoint;
mod commit;
mod housekeeping;
mod upkeep;

// foldhash: several times faster than std's SipHash on these small keys, and randomly seeded
// per process like it, so sensor-chosen keys cannot be lined up to collide.
use foldhash::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clima_model::forward::Entry;
use clima_model::{Millis, Reading};
use rusqlite::Connection;

use self::checkpoint::Checkpointer;
use super::alerts::AlertFeed;
use super::outbox::Outbox;
use super::StoreError;
use crate::hub::Hub;
use crate::now_ms;

pub use self::upkeep::{KEEP_MINUTE_KEY, KEEP_RAW_KEY};

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
    pub const ALL: [Source; 5] = [
        Source::Http,
        Source::LineProtocol,
        Source::Push,
        Source::Serial,
        Source::Import,
    ];

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

/// What commits stored, by source, and how many commits failed since start: for `/metrics`.
#[derive(Debug, Default)]
pub struct WriteStats {
    by_source: Mutex<[SourceCounts; 5]>,
    failed_commits: std::sync::atomic::AtomicU64,
}

/// Samples stored, resent and conflicting from one source, and what it sent that was refused.
#[derive(Debug, Default, Clone, Copy)]
pub struct SourceCounts {
    pub stored: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    /// Readings refused whole (unparseable, no valid value) and single fields refused
    /// (implausible values), before the store.
    pub rejected: u64,
}

impl WriteStats {
    pub fn by_source(&self) -> Vec<(Source, SourceCounts)> {
        let counts = *self.by_source.lock().expect("write stats");
        Source::ALL.into_iter().zip(counts).collect()
    }

    pub fn failed_commits(&self) -> u64 {
        self.failed_commits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts readings or fields from `source` refused before they reached the store.
    pub fn rejected(&self, source: Source, n: usize) {
        if n == 0 {
            return;
        }
        let mut all = self.by_source.lock().expect("write stats");
        all[Source::ALL.iter().position(|s| *s == source).unwrap_or(0)].rejected += n as u64;
    }

    fn count(&self, source: Source, r: &Receipt) {
        let mut all = self.by_source.lock().expect("write stats");
        let c = &mut all[Source::ALL.iter().position(|s| *s == source).unwrap_or(0)];
        c.stored += r.stored as u64;
        c.duplicates += r.duplicates as u64;
        c.conflicts += r.conflicts.len() as u64;
    }
}

/// What a write stored: new samples, samples already present (resent backlog), and samples
/// that conflict with a different value already stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Receipt {
    pub stored: usize,
    /// Samples already stored with the same value: an idempotent resend.
    pub duplicates: usize,
    /// Samples whose (sensor, metric, time) was already stored with another value: the value
    /// stored first stands, and these were not stored.
    pub conflicts: Vec<Conflict>,
}

/// A sample refused because its series already holds another value at its time.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Conflict {
    pub sensor: String,
    pub metric: String,
    pub measured_at: Millis,
    /// The value stored first, which stands.
    pub stored: f64,
    /// The value sent, which was not stored.
    pub sent: f64,
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
    /// The forward log's shared state: commits append to the log while a forwarder runs.
    pub outbox: Arc<Outbox>,
    /// Where each commit's stored samples go for the alerts' evaluation, while a rule is enabled.
    pub alerts: Arc<AlertFeed>,
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

/// Bytes of WAL file kept after a checkpoint: enough for the next commits to reuse.
const WAL_KEEP_BYTES: i64 = 1 << 20;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw: Some(Duration::from_secs(30 * 86_400)),
            minute: Some(Duration::from_secs(365 * 86_400)),
        }
    }
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
            outbox: Arc::default(),
            alerts: Arc::default(),
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
    /// Runs a task on the writer's connection (forwarder registration).
    Run(Task),
    /// Deletes or merges a sensor (see `housekeeping`).
    Chore(housekeeping::Chore),
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

type Task = Box<dyn FnOnce(&Connection) + Send>;

/// Called on the writer thread with a write's outcome, once committed (or failed). It must be
/// quick: hand the result on, never block.
pub type Done = Box<dyn FnOnce(Result<Receipt, StoreError>) + Send>;

/// Sends readings to the writer. Cheap to clone; every ingest path holds one.
#[derive(Clone)]
pub struct WriteHandle {
    tx: mpsc::SyncSender<Msg>,
    problem: Arc<Mutex<Option<String>>>,
    stats: Arc<WriteStats>,
}

impl WriteHandle {
    /// Why the last commit failed, while commits keep failing (a full disk, a read-only file);
    /// `None` once one succeeds again.
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().expect("store problem").clone()
    }

    /// What commits stored and how many failed, since start.
    pub fn stats(&self) -> &WriteStats {
        &self.stats
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

    /// Runs `f` on the writer's connection between commits and returns its result: the one way
    /// for other parts of the engine to change the database.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let task: Task = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.tx
            .send(Msg::Run(task))
            .map_err(|_| StoreError::Stopped)?;
        answer.recv().map_err(|_| StoreError::Stopped)?
    }

    /// Deletes a sensor with everything stored of it (series, samples, pieces, chunks, rollups,
    /// forward log entries), in one transaction; `false` when there is no such sensor.
    pub fn delete_sensor(&self, sensor: &str) -> Result<bool, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.chore(housekeeping::Chore::Delete {
            sensor: sensor.to_owned(),
            reply,
        })?;
        answer.recv().map_err(|_| StoreError::Stopped)?
    }

    /// Moves every sample of sensor `from` into sensor `into` (conflicts counted as in ingest:
    /// `into`'s value stands), then deletes `from`. `None` when either does not exist.
    pub fn merge_sensors(&self, from: &str, into: &str) -> Result<Option<Receipt>, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.chore(housekeeping::Chore::Merge {
            from: from.to_owned(),
            into: into.to_owned(),
            reply,
        })?;
        answer.recv().map_err(|_| StoreError::Stopped)?
    }

    fn chore(&self, chore: housekeeping::Chore) -> Result<(), StoreError> {
        self.tx
            .send(Msg::Chore(chore))
            .map_err(|_| StoreError::Stopped)
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
    // Once checkpointed, the WAL starts over; without a limit its file would stay at its
    // largest size (a bulk load's, tens of MB) beside the database for good.
    conn.pragma_update(None, "journal_size_limit", WAL_KEEP_BYTES)?;
    conn.pragma_update(None, "synchronous", cfg.durability.pragma())?;
    conn.pragma_update(None, "cache_size", -4_000)?;
    let checkpointer = conn
        .path()
        .map(|p| Checkpointer::spawn(p.into()))
        .transpose()?;
    let (tx, rx) = mpsc::sync_channel(4096);
    let problem = Arc::new(Mutex::new(None));
    let stats = Arc::new(WriteStats::default());
    let mut writer = Writer {
        problem: problem.clone(),
        stats: stats.clone(),
        checkpointer,
        conn,
        hub,
        cfg,
        horizon,
        sensors: SensorCache::default(),
        series: HashMap::default(),
        series_cursor: 0,
        conflicts_logged: HashMap::default(),
        inbox: rx,
        deferred: Default::default(),
        merging: None,
        logged: Vec::new(),
        packed: Vec::new(),
    };
    let thread = std::thread::Builder::new()
        .name("clima-writer".into())
        .spawn(move || writer.run())
        .expect("spawning the writer thread");
    Ok((WriteHandle { tx, problem, stats }, thread))
}

/// The sensor rows the writer has looked up: by key for readings that name their sensor, by
/// series key for line-protocol series, and the keys of series sensors known by another key
/// than their readable id.
#[derive(Default)]
struct SensorCache {
    plain: HashMap<String, i64>,
    series: HashMap<String, i64>,
    renamed: HashMap<i64, String>,
}

impl SensorCache {
    /// The key sensor `id` is known by, for a reading of it.
    fn key_of<'a>(&'a self, id: i64, reading: &'a clima_model::Reading) -> &'a str {
        self.renamed
            .get(&id)
            .map_or(reading.sensor.as_str(), String::as_str)
    }
}

struct Writer {
    conn: Connection,
    problem: Arc<Mutex<Option<String>>>,
    stats: Arc<WriteStats>,
    checkpointer: Option<Checkpointer>,
    hub: Hub,
    cfg: WriterConfig,
    /// Samples measured before this are packed (pieces, chunks) or late (`samples`), the rest
    /// in `recent_samples`.
    horizon: Millis,
    sensors: SensorCache,
    series: HashMap<i64, HashMap<String, Known>>,
    /// The last series sealing and pruning finished with.
    series_cursor: i64,
    /// When each sensor's conflicts were last logged (once a minute at most).
    conflicts_logged: HashMap<String, std::time::Instant>,
    /// The writer's queue, kept here so that a long chore (a merge) can commit the writes
    /// that queue up while it runs.
    inbox: mpsc::Receiver<Msg>,
    /// Messages a chore took from the queue but left for the loop (anything but a write).
    deferred: std::collections::VecDeque<Msg>,
    /// While a merge copies: the sensor it moves, and the hours of its readings that arrived
    /// meanwhile (copied again at the end, so the sensor's deletion loses none).
    merging: Option<(String, std::collections::BTreeSet<Millis>)>,
    /// Buffers for what each commit logs for the forwarders, kept between commits: a large
    /// buffer allocated afresh each time costs page faults on every commit.
    logged: Vec<Entry>,
    packed: Vec<u8>,
}

/// A series as the writer caches it.
#[derive(Debug, Clone, Copy)]
struct Known {
    id: i64,
    /// The latest `measured_at` it holds, as of the last commit: a sample after it cannot be a
    /// duplicate.
    newest: Option<Millis>,
}

impl Writer {
    fn run(&mut self) {
        let mut next_tick = Instant::now() + self.cfg.move_every;
        let mut stopping = false;
        while !stopping {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let mut group = Vec::new();
            let mut samples = 0;
            match self.next_msg(wait) {
                Ok(msg) => {
                    self.take(msg, &mut group, &mut samples, &mut stopping);
                    // Group commit: everything that queued up while the last commit ran goes in
                    // one transaction. While stopping, drain the queue whatever its size.
                    while samples < self.cfg.max_group_samples || stopping {
                        match self.next_msg(Duration::ZERO) {
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
                let now = now_ms();
                let busy = self
                    .tick(now)
                    .and_then(|busy| Ok(self.forward_upkeep(now)? || busy));
                let busy = busy.unwrap_or_else(|e| {
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
        if let Err(e) = self.forward_upkeep(now_ms()) {
            tracing::warn!(error = %e, "storing forwarders' cursors failed; they resend from the last stored one");
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

    /// The next message: one a chore deferred, else the queue's, waiting up to `wait` (zero:
    /// only what is queued).
    fn next_msg(&mut self, wait: Duration) -> Result<Msg, mpsc::RecvTimeoutError> {
        match self.deferred.pop_front() {
            Some(msg) => Ok(msg),
            None => self.inbox.recv_timeout(wait),
        }
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
            Msg::Run(task) => {
                if !group.is_empty() {
                    self.commit_and_answer(std::mem::take(group));
                    *samples = 0;
                }
                task(&self.conn);
            }
            Msg::Chore(chore) => {
                if !group.is_empty() {
                    self.commit_and_answer(std::mem::take(group));
                    *samples = 0;
                }
                self.housekeep(chore);
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
}

impl Writer {
    /// Stores forwarders' cursors and trims the forward log (see `store::outbox`).
    fn forward_upkeep(&mut self, now: Millis) -> Result<bool, StoreError> {
        let cutoff = self
            .cfg
            .retention
            .raw
            .map(|keep| now - keep.as_millis() as Millis);
        self.cfg.outbox.upkeep(&self.conn, cutoff)
    }
}

fn count(job: &Job) -> usize {
    job.readings.iter().map(|r| r.values.len()).sum()
}

/// What the tests of the writer and of the layout share.
#[cfg(test)]
pub(super) mod testing {
    use clima_model::SensorId;

    use super::*;
    use crate::store::open;

    /// A fresh database path in a folder that lives as long as the returned guard.
    fn temp_db(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{name}.db"));
        (dir, path)
    }

    /// A writer with the default settings on a fresh database.
    pub(crate) fn default_writer(
        name: &str,
    ) -> (tempfile::TempDir, std::path::PathBuf, WriteHandle) {
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
    pub(crate) fn same_buckets(
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

    pub(crate) fn reading(sensor: &str, at: Millis, value: f64) -> Reading {
        let mut d = clima_model::reading::Draft::default();
        d.metric("temperature", value).unwrap();
        d.measured_at = Some(at);
        d.finish(&SensorId::parse(sensor).unwrap()).unwrap()
    }

    pub(crate) fn count_rows(path: &std::path::Path, table: &str) -> i64 {
        let c = Connection::open(path).unwrap();
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }
}
