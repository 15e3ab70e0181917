//! The forward log: what each commit stored, in commit order, one packed row per commit, for
//! forwarders to read from the store (never from the live hub alone), and each forwarder's
//! cursor into it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use clima_model::forward::{pack, pack_into, unpack, Entry, Sample, DELETED_SERIES};
use clima_model::Millis;
use rusqlite::{Connection, OptionalExtension, Transaction};

use super::{open_reader, StoreError};

/// Log rows deleted per statement (up to 1,000,000 values), so a long drain's cleanup never
/// holds the writer long.
const PRUNE_STEP: i64 = 50;
/// Most values in one log row: a large commit (an import, a merge, a burst) is logged in several,
/// so a reader never holds more than a few rows' worth.
pub const ROW_VALUES: usize = 20_000;

/// What the writer and the forwarders share: where the log ends and where each forwarder is.
#[derive(Default)]
pub struct Outbox {
    /// Whether any forwarder runs; commits append to the log only then.
    active: AtomicBool,
    /// The last seq committed to the log.
    head: AtomicI64,
    stopping: AtomicBool,
    /// The running forwarders' cursors. Forwarder threads never take this lock: they run at
    /// background priority, and one paused by the scheduler while holding a lock the writer
    /// takes on each commit would stall it. They wait by parking; the writer wakes them.
    cursors: Mutex<Vec<Arc<Cursor>>>,
}

/// One forwarder's place in the log.
#[derive(Debug)]
pub struct Cursor {
    pub id: i64,
    /// The last seq its target acknowledged; the writer stores it at its next tick.
    delivered: AtomicI64,
    /// What the table holds (only the writer changes it).
    persisted: AtomicI64,
    /// The forwarder's thread, woken when the log grows or the outbox stops.
    thread: OnceLock<Thread>,
}

impl Cursor {
    pub fn delivered(&self) -> i64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Records that the target acknowledged everything up to `seq`.
    pub fn deliver(&self, seq: i64) {
        self.delivered.store(seq, Ordering::Release);
    }

    /// Makes the calling thread the one woken for this cursor: the forwarder's, before it
    /// waits with [`Outbox::wait_beyond`] or [`Outbox::sleep`].
    pub fn attach(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Outbox {
    pub(super) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// The last seq committed to the log.
    pub fn head(&self) -> i64 {
        self.head.load(Ordering::Acquire)
    }

    /// Wakes every forwarder after a change it waits for (a wake-up that comes before the
    /// forwarder parks is kept, so none is missed).
    fn wake_all(&self) {
        for c in self.cursors.lock().expect("outbox").iter() {
            c.wake();
        }
    }

    fn set_head(&self, head: i64) {
        self.head.store(head, Ordering::Release);
        self.wake_all();
    }

    /// Waits, on a thread [attached](Cursor::attach) to a cursor, until the log holds more
    /// than `seq`, the outbox stops, or `timeout` passes; returns whether it is stopping.
    pub fn wait_beyond(&self, seq: i64, timeout: Duration) -> bool {
        self.park_until(timeout, || self.head() > seq)
    }

    /// Sleeps for `wait`, on an attached thread, unless the outbox stops first; returns whether
    /// it is stopping.
    pub fn sleep(&self, wait: Duration) -> bool {
        self.park_until(wait, || false)
    }

    fn park_until(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let until = Instant::now() + timeout;
        while !done() && !self.is_stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::park_timeout(left);
        }
        self.is_stopping()
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Wakes every forwarder to stop.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.wake_all();
    }

    fn cursors(&self) -> Vec<Arc<Cursor>> {
        self.cursors.lock().expect("outbox").clone()
    }

    /// Registers the forwarder to `target` (its address without credentials; `url` is kept only
    /// for one added in Settings), creating it at the end of the log when new. On the writer's
    /// connection, so no commit falls between reading the head and logging for it.
    pub(crate) fn register(
        &self,
        conn: &Connection,
        target: &str,
        url: Option<&str>,
    ) -> Result<Arc<Cursor>, StoreError> {
        let head = sequence(conn)?;
        conn.execute(
            "INSERT INTO forwarders (target, url, cursor) VALUES (?1, ?2, ?3)
             ON CONFLICT (target) DO UPDATE SET url = coalesce(excluded.url, url)",
            (target, url, head),
        )?;
        let (id, cursor): (i64, i64) = conn.query_row(
            "SELECT id, cursor FROM forwarders WHERE target = ?1",
            [target],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let c = Arc::new(Cursor {
            id,
            delivered: AtomicI64::new(cursor),
            persisted: AtomicI64::new(cursor),
            thread: OnceLock::new(),
        });
        let mut cursors = self.cursors.lock().expect("outbox");
        self.head.store(head, Ordering::Release);
        cursors.retain(|k| k.id != id);
        cursors.push(c.clone());
        self.active.store(true, Ordering::Release);
        Ok(c)
    }

    /// Forgets a forwarder and its cursor (removed in Settings).
    pub(crate) fn unregister(&self, conn: &Connection, id: i64) -> Result<(), StoreError> {
        conn.execute("DELETE FROM forwarders WHERE id = ?1", [id])?;
        self.drop_cursor(id);
        Ok(())
    }

    /// Stops logging for a forwarder that no longer runs; its stored cursor stays.
    pub fn drop_cursor(&self, id: i64) {
        let mut cursors = self.cursors.lock().expect("outbox");
        cursors.retain(|k| k.id != id);
        self.active.store(!cursors.is_empty(), Ordering::Release);
    }

    /// Appends a commit's stored samples (series, time, value) to the log, in the commit's
    /// transaction: one row per commit (per [`ROW_VALUES`]), its values packed in a blob and
    /// numbered on from the head, packed in `buf` (the caller's, reused). Returns the new head,
    /// to announce once committed.
    pub(super) fn append(
        &self,
        tx: &Transaction,
        samples: &[Entry],
        buf: &mut Vec<u8>,
    ) -> Result<Option<i64>, StoreError> {
        if samples.is_empty() {
            return Ok(None);
        }
        let mut head = self.head();
        let mut stmt = tx.prepare_cached(
            "INSERT INTO forward_batches (last, count, newest, entries) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for part in samples.chunks(ROW_VALUES) {
            head += part.len() as i64;
            let newest = part.iter().map(|e| e.1).max().expect("not empty");
            pack_into(buf, part);
            stmt.execute((head, part.len() as i64, newest, &buf[..]))?;
        }
        Ok(Some(head))
    }

    /// Marks the entries of deleted series so that they are never sent (a later series may
    /// take a deleted one's id); the other entries keep their numbers. In the caller's
    /// transaction, on the writer's connection.
    pub(crate) fn forget_series(tx: &Transaction, series: &[i64]) -> Result<(), StoreError> {
        if series.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::new();
        {
            let mut stmt = tx.prepare("SELECT last, entries FROM forward_batches")?;
            let mut it = stmt.query([])?;
            while let Some(r) = it.next()? {
                let last: i64 = r.get(0)?;
                let blob = r.get_ref(1)?.as_blob().map_err(|e| damaged(last, &e))?;
                let mut entries = unpack(blob).map_err(|e| damaged(last, &e))?;
                let mut changed = false;
                for e in &mut entries {
                    if series.contains(&e.0) {
                        e.0 = DELETED_SERIES;
                        changed = true;
                    }
                }
                if changed {
                    rows.push((last, pack(&entries)));
                }
            }
        }
        let mut update = tx.prepare("UPDATE forward_batches SET entries = ?2 WHERE last = ?1")?;
        for (last, blob) in rows {
            update.execute((last, blob))?;
        }
        Ok(())
    }

    /// Tells waiting forwarders that the log now ends at `head`.
    pub(super) fn committed(&self, head: Option<i64>) {
        if let Some(head) = head {
            self.set_head(head);
        }
    }

    /// The writer's chore between commits: stores cursors that moved, deletes entries every
    /// running forwarder has passed, and entries measured before `cutoff` (raw retention).
    /// Returns whether work is left.
    pub(super) fn upkeep(
        &self,
        conn: &Connection,
        cutoff: Option<Millis>,
    ) -> Result<bool, StoreError> {
        let cursors = self.cursors();
        for c in &cursors {
            let d = c.delivered();
            if d != c.persisted.load(Ordering::Acquire) {
                conn.execute("UPDATE forwarders SET cursor = ?1 WHERE id = ?2", (d, c.id))?;
                c.persisted.store(d, Ordering::Release);
            }
        }
        let mut busy = false;
        if let Some(min) = cursors
            .iter()
            .map(|c| c.persisted.load(Ordering::Acquire))
            .min()
        {
            let n = conn.execute(
                "DELETE FROM forward_batches WHERE last IN
                 (SELECT last FROM forward_batches WHERE last <= ?1 ORDER BY last LIMIT ?2)",
                (min, PRUNE_STEP),
            )?;
            busy |= n as i64 >= PRUNE_STEP;
        }
        if let Some(cutoff) = cutoff {
            // A row goes once all its values are past retention.
            let n = conn.execute(
                "DELETE FROM forward_batches WHERE last IN
                 (SELECT last FROM forward_batches WHERE newest < ?1 ORDER BY last LIMIT ?2)",
                (cutoff, PRUNE_STEP),
            )?;
            busy |= n as i64 >= PRUNE_STEP;
        }
        Ok(busy)
    }
}

fn damaged(last: i64, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Failed(format!(
        "the forward log's row {last} is damaged ({e}): restore the database from a backup"
    ))
}

/// The last number ever given to a logged value (0 for none).
fn sequence(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'forward_batches'), 0)",
        [],
        |r| r.get(0),
    )?)
}

/// Migration 11: moves the entries of the old log (a row per value) into packed rows, keeping
/// their numbers (a run of consecutive numbers per row, so a gap retention left stays a gap), and
/// the largest number ever given; then drops the old table.
pub(super) fn convert_log(tx: &Connection) -> rusqlite::Result<()> {
    let mut insert = tx.prepare(
        "INSERT INTO forward_batches (last, count, newest, entries) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut flush = |run: &mut Vec<Entry>, last: i64| -> rusqlite::Result<()> {
        if let Some(newest) = run.iter().map(|e| e.1).max() {
            insert.execute((last, run.len() as i64, newest, pack(run)))?;
        }
        run.clear();
        Ok(())
    };
    let mut stmt =
        tx.prepare("SELECT seq, series_id, measured_at, value FROM forward_log ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut run: Vec<Entry> = Vec::new();
    let mut last = 0;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        if !run.is_empty() && (seq != last + 1 || run.len() == ROW_VALUES) {
            flush(&mut run, last)?;
        }
        run.push((r.get(1)?, r.get(2)?, r.get(3)?));
        last = seq;
    }
    flush(&mut run, last)?;
    drop(rows);
    drop(stmt);
    drop(insert);
    tx.execute_batch(
        "DELETE FROM sqlite_sequence WHERE name = 'forward_batches';
         INSERT INTO sqlite_sequence (name, seq)
             SELECT 'forward_batches', seq FROM sqlite_sequence WHERE name = 'forward_log';
         DROP TABLE forward_log;",
    )
}

/// A forwarder's own read-only connection to the log.
pub struct LogReader(Connection);

impl LogReader {
    pub fn open(path: &Path) -> Result<LogReader, StoreError> {
        Ok(LogReader(open_reader(path)?))
    }

    /// The log's rows after `after`, oldest first, until they hold `limit` values or more,
    /// with each value's number, sensor and metric. Each series' names are looked up once per
    /// read and shared by its samples; a sensor renamed meanwhile is sent under its new name from
    /// the next read on. Values of deleted series are left out, but counted in `to`.
    pub fn after(&self, after: i64, limit: usize) -> Result<Read, StoreError> {
        type Names = (Arc<str>, Option<Arc<str>>, Arc<str>);
        let mut stmt = self.0.prepare_cached(
            "SELECT last, count, entries FROM forward_batches WHERE last > ?1 ORDER BY last",
        )?;
        let mut lookup = self.0.prepare_cached(
            "SELECT s.key, s.name, m.metric FROM series m JOIN sensors s ON s.id = m.sensor_id
             WHERE m.id = ?1",
        )?;
        let mut names: HashMap<i64, Option<Names>> = HashMap::new();
        let mut read = Read {
            from: None,
            to: after,
            samples: Vec::new(),
        };
        let mut rows = stmt.query([after])?;
        while let Some(r) = rows.next()? {
            let (last, count): (i64, i64) = (r.get(0)?, r.get(1)?);
            let blob = r.get_ref(2)?.as_blob().map_err(|e| damaged(last, &e))?;
            let entries = unpack(blob).map_err(|e| damaged(last, &e))?;
            let first = last - count + 1;
            read.from.get_or_insert(first.max(after + 1));
            read.to = last;
            for (i, (series, measured_at, value)) in entries.into_iter().enumerate() {
                let seq = first + i as i64;
                if seq <= after {
                    continue;
                }
                let known = match names.get(&series) {
                    Some(n) => n,
                    None => {
                        let n = lookup
                            .query_row([series], |r| {
                                Ok((
                                    Arc::from(r.get::<_, String>(0)?),
                                    r.get::<_, Option<String>>(1)?.map(Arc::from),
                                    Arc::from(r.get::<_, String>(2)?),
                                ))
                            })
                            .optional()?;
                        names.entry(series).or_insert(n)
                    }
                };
                // A deleted series' entry is not sent.
                let Some((sensor, name, metric)) = known else {
                    continue;
                };
                read.samples.push(Sample {
                    seq,
                    sensor: sensor.clone(),
                    name: name.clone(),
                    metric: metric.clone(),
                    measured_at,
                    value,
                });
            }
            if read.samples.len() >= limit {
                break;
            }
        }
        Ok(read)
    }
}

/// What one read of the log found after a cursor.
#[derive(Debug)]
pub struct Read {
    /// The number of the first value the log still holds after the cursor; a gap before it is
    /// what retention removed. `None` when the log holds nothing after it.
    pub from: Option<i64>,
    /// The number of the last value read (the cursor when nothing was).
    pub to: i64,
    /// The values read, oldest first, those of deleted series left out.
    pub samples: Vec<Sample>,
}
