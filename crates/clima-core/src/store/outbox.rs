//! The forward log: what each commit stored, in commit order, for forwarders to read from the
//! store (never from the live hub alone), and each forwarder's cursor into it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use clima_model::forward::Sample;
use clima_model::Millis;
use rusqlite::{Connection, OptionalExtension, Transaction};

use super::{open_reader, StoreError};

/// Log entries deleted per statement, so a long drain's cleanup never holds the writer long.
const PRUNE_STEP: i64 = 50_000;

/// What the writer and the forwarders share: where the log ends and where each forwarder is.
#[derive(Default)]
pub struct Outbox {
    /// Whether any forwarder runs; commits append to the log only then.
    active: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The last seq committed to the log.
    head: i64,
    stopping: bool,
    cursors: Vec<Arc<Cursor>>,
}

/// One forwarder's place in the log.
#[derive(Debug)]
pub struct Cursor {
    pub id: i64,
    /// The last seq its target acknowledged; the writer stores it at its next tick.
    delivered: AtomicI64,
    /// What the table holds (only the writer changes it).
    persisted: AtomicI64,
}

impl Cursor {
    pub fn delivered(&self) -> i64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Records that the target acknowledged everything up to `seq`.
    pub fn deliver(&self, seq: i64) {
        self.delivered.store(seq, Ordering::Release);
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
        self.state.lock().expect("outbox").head
    }

    fn set_head(&self, head: i64) {
        self.state.lock().expect("outbox").head = head;
        self.changed.notify_all();
    }

    /// Waits until the log holds more than `seq`, the outbox stops, or `timeout` passes;
    /// returns whether it is stopping.
    pub fn wait_beyond(&self, seq: i64, timeout: Duration) -> bool {
        let state = self.state.lock().expect("outbox");
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.head <= seq && !s.stopping)
            .expect("outbox");
        state.stopping
    }

    /// Sleeps for `wait` unless the outbox stops first; returns whether it is stopping.
    pub fn sleep(&self, wait: Duration) -> bool {
        let state = self.state.lock().expect("outbox");
        let (state, _) = self
            .changed
            .wait_timeout_while(state, wait, |s| !s.stopping)
            .expect("outbox");
        state.stopping
    }

    pub fn is_stopping(&self) -> bool {
        self.state.lock().expect("outbox").stopping
    }

    /// Wakes every forwarder to stop.
    pub fn stop(&self) {
        self.state.lock().expect("outbox").stopping = true;
        self.changed.notify_all();
    }

    fn cursors(&self) -> Vec<Arc<Cursor>> {
        self.state.lock().expect("outbox").cursors.clone()
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
        });
        let mut state = self.state.lock().expect("outbox");
        state.head = head;
        state.cursors.retain(|k| k.id != id);
        state.cursors.push(c.clone());
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
        let mut state = self.state.lock().expect("outbox");
        state.cursors.retain(|k| k.id != id);
        self.active
            .store(!state.cursors.is_empty(), Ordering::Release);
    }

    /// Appends a commit's stored samples (series, time, value) to the log, in the commit's
    /// transaction. Returns the new head, to announce once committed.
    pub(super) fn append(
        &self,
        tx: &Transaction,
        samples: &[(i64, Millis, f64)],
    ) -> Result<Option<i64>, StoreError> {
        const ROWS: usize = 64;
        if samples.is_empty() {
            return Ok(None);
        }
        let many = format!(
            "INSERT INTO forward_log (series_id, measured_at, value) VALUES {}",
            vec!["(?, ?, ?)"; ROWS].join(", ")
        );
        let mut chunks = samples.chunks_exact(ROWS);
        for chunk in &mut chunks {
            let mut stmt = tx.prepare_cached(&many)?;
            for (i, &(series, at, value)) in chunk.iter().enumerate() {
                stmt.raw_bind_parameter(3 * i + 1, series)?;
                stmt.raw_bind_parameter(3 * i + 2, at)?;
                stmt.raw_bind_parameter(3 * i + 3, value)?;
            }
            stmt.raw_execute()?;
        }
        let mut one = tx.prepare_cached(
            "INSERT INTO forward_log (series_id, measured_at, value) VALUES (?1, ?2, ?3)",
        )?;
        for &(series, at, value) in chunks.remainder() {
            one.execute((series, at, value))?;
        }
        Ok(Some(tx.last_insert_rowid()))
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
                "DELETE FROM forward_log WHERE seq <= min(?1, (SELECT min(seq) FROM forward_log) + ?2)",
                (min, PRUNE_STEP),
            )?;
            busy |= n as i64 >= PRUNE_STEP;
        }
        if let Some(cutoff) = cutoff {
            let n = conn.execute(
                "DELETE FROM forward_log WHERE seq IN (SELECT seq FROM forward_log ORDER BY seq LIMIT ?1) AND measured_at < ?2",
                (PRUNE_STEP, cutoff),
            )?;
            busy |= n > 0;
        }
        Ok(busy)
    }
}

/// The last seq ever given to a log entry (0 for none).
fn sequence(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'forward_log'), 0)",
        [],
        |r| r.get(0),
    )?)
}

/// A forwarder's own read-only connection to the log.
pub struct LogReader(Connection);

impl LogReader {
    pub fn open(path: &Path) -> Result<LogReader, StoreError> {
        Ok(LogReader(open_reader(path)?))
    }

    /// Up to `limit` entries after `after`, oldest first, with their sensor and metric. Each
    /// series' names are looked up once per read and shared by its samples (a join and three
    /// strings per entry were most of a forwarder's work); a sensor renamed meanwhile is sent
    /// under its new name from the next read on.
    pub fn after(&self, after: i64, limit: usize) -> Result<Vec<Sample>, StoreError> {
        type Names = (Arc<str>, Option<Arc<str>>, Arc<str>);
        let mut stmt = self.0.prepare_cached(
            "SELECT seq, series_id, measured_at, value FROM forward_log
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows: Vec<(i64, i64, Millis, f64)> = stmt
            .query_map((after, limit as i64), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut lookup = self.0.prepare_cached(
            "SELECT s.key, s.name, m.metric FROM series m JOIN sensors s ON s.id = m.sensor_id
             WHERE m.id = ?1",
        )?;
        let mut names: HashMap<i64, Option<Names>> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for (seq, series, measured_at, value) in rows {
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
            // As the join did: an entry whose series is gone is not sent.
            let Some((sensor, name, metric)) = known else {
                continue;
            };
            out.push(Sample {
                seq,
                sensor: sensor.clone(),
                name: name.clone(),
                metric: metric.clone(),
                measured_at,
                value,
            });
        }
        Ok(out)
    }
}
