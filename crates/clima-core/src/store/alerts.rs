//! The alerts' tables: rules, the (rule, series) states, the bounded history, the webhooks kept
//! in Settings and the queue of webhook deliveries; and the feed that hands each commit's stored
//! samples to the evaluation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use clima_model::alert::{Rule, State, Track, TrackKey};
use clima_model::Millis;
use foldhash::HashSet;
use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// One commit's stored samples: (series id, measured time, value), resends included.
pub type Committed = Vec<(i64, Millis, f64)>;

/// Samples the feed holds for the evaluation at most (24 bytes each: 48 MiB). The evaluation
/// takes millions a second, so only a stalled one fills it.
pub const FEED_CAPACITY: usize = 2 * 1024 * 1024;

/// Hands the commits' stored samples to the evaluation, while a rule is enabled, without ever
/// blocking the writer: commits wait in one queue the evaluation takes whole. A stalled
/// evaluation cannot grow it past its capacity: once full, commits are left out and their
/// series noted, and the evaluation resumes each such series from its newest stored value.
pub struct AlertFeed {
    active: AtomicBool,
    capacity: usize,
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    connected: bool,
    samples: Committed,
    /// Series with samples left out since the evaluation last took the queue, and how many.
    skipped: HashSet<i64>,
    skipped_samples: u64,
}

/// What the evaluation takes from the feed at once.
#[derive(Debug, Default, PartialEq)]
pub struct Taken {
    /// Commits' samples, in commit order.
    pub samples: Committed,
    /// Series with samples left out after those (the queue was full), and how many samples.
    pub skipped: Vec<i64>,
    pub skipped_samples: u64,
}

impl Default for AlertFeed {
    fn default() -> Self {
        AlertFeed::with_capacity(FEED_CAPACITY)
    }
}

impl std::fmt::Debug for AlertFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertFeed")
            .field("active", &self.is_active())
            .finish()
    }
}

impl AlertFeed {
    /// A feed holding at most `capacity` samples.
    pub fn with_capacity(capacity: usize) -> AlertFeed {
        AlertFeed {
            active: AtomicBool::new(false),
            capacity,
            queue: Mutex::default(),
            ready: Condvar::new(),
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Connects the evaluation; commits are queued for it once [`AlertFeed::set_active`].
    pub(crate) fn connect(&self) {
        self.queue.lock().expect("alert feed").connected = true;
    }

    pub(crate) fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::Release);
    }

    /// Stops queueing; the evaluation takes what is queued, then stops.
    pub(crate) fn disconnect(&self) {
        self.set_active(false);
        self.queue.lock().expect("alert feed").connected = false;
        self.ready.notify_all();
    }

    /// Queues a commit's samples (called by the writer; never blocks on the evaluation).
    pub(crate) fn send(&self, samples: Committed) {
        if samples.is_empty() {
            return;
        }
        let mut q = self.queue.lock().expect("alert feed");
        if !q.connected {
            return;
        }
        // Only an empty queue can have the evaluation waiting on it.
        let was_empty = q.samples.is_empty() && q.skipped.is_empty();
        // Once one commit is left out, the next ones are too until the evaluation takes the
        // queue: what it resumes from is newer than everything queued.
        if !q.skipped.is_empty() || q.samples.len() + samples.len() > self.capacity {
            q.skipped_samples += samples.len() as u64;
            q.skipped.extend(samples.iter().map(|s| s.0));
        } else if q.samples.is_empty() {
            q.samples = samples;
        } else {
            q.samples.extend_from_slice(&samples);
        }
        drop(q);
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// Takes everything queued, waiting up to `wait` for something; `None` once disconnected
    /// and drained.
    pub(crate) fn take(&self, wait: Duration) -> Option<Taken> {
        let q = self.queue.lock().expect("alert feed");
        let (mut q, _) = self
            .ready
            .wait_timeout_while(q, wait, |q| {
                q.connected && q.samples.is_empty() && q.skipped.is_empty()
            })
            .expect("alert feed");
        if !q.connected && q.samples.is_empty() && q.skipped.is_empty() {
            return None;
        }
        Some(Taken {
            samples: std::mem::take(&mut q.samples),
            skipped: q.skipped.drain().collect(),
            skipped_samples: std::mem::take(&mut q.skipped_samples),
        })
    }
}

/// The newest stored value of each series, with its measured time: where the evaluation
/// resumes a series whose samples it had to leave out.
pub fn newest_values(
    conn: &Connection,
    series: &[i64],
) -> Result<Vec<(i64, Millis, f64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, last_measured_at, last_value FROM series
         WHERE id = ?1 AND last_measured_at IS NOT NULL AND last_value IS NOT NULL",
    )?;
    let mut out = Vec::with_capacity(series.len());
    for id in series {
        if let Some(row) = stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
        {
            out.push(row);
        }
    }
    Ok(out)
}

/// History rows kept; the API shows the last 200.
pub const HISTORY_KEPT: i64 = 1_000;

/// Every rule, in id order; a stored rule this build cannot read is logged and left out.
pub fn rules(conn: &Connection) -> Result<Vec<(i64, Rule)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, rule FROM alert_rules ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, text) = row?;
        match serde_json::from_str(&text)
            .map_err(|e| e.to_string())
            .and_then(|v| Rule::from_json(&v).map_err(|e| e.to_string()))
        {
            Ok(rule) => out.push((id, rule)),
            Err(e) => tracing::warn!(id, error = %e, "alert rule left out: it does not read back"),
        }
    }
    Ok(out)
}

pub fn insert_rule(conn: &Connection, rule: &Rule) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO alert_rules (rule) VALUES (?1)",
        [rule.to_json().to_string()],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Replaces a rule; its states start over. Returns whether it existed.
pub fn update_rule(conn: &Connection, id: i64, rule: &Rule) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE alert_rules SET rule = ?2 WHERE id = ?1",
        params![id, rule.to_json().to_string()],
    )?;
    conn.execute("DELETE FROM alert_states WHERE rule_id = ?1", [id])?;
    Ok(n == 1)
}

/// Deletes a rule and its states (its history stays). Returns whether it existed.
pub fn delete_rule(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    let n = conn.execute("DELETE FROM alert_rules WHERE id = ?1", [id])?;
    conn.execute("DELETE FROM alert_states WHERE rule_id = ?1", [id])?;
    Ok(n == 1)
}

/// Every stored state.
pub fn states(conn: &Connection) -> Result<Vec<(TrackKey, Track)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT rule_id, sensor, metric, state, since, value, told_firing FROM alert_states",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            TrackKey {
                rule_id: r.get(0)?,
                sensor: r.get(1)?,
                metric: r.get(2)?,
            },
            r.get::<_, String>(3)?,
            r.get::<_, Millis>(4)?,
            r.get::<_, Option<f64>>(5)?,
            r.get::<_, bool>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, state, since, value, told) = row?;
        if let Some(state) = State::parse(&state) {
            out.push((key, Track::restored(state, since, value, told)));
        }
    }
    Ok(out)
}

/// A state change to store, with what the history and the deliveries need.
#[derive(Debug, Clone)]
pub struct Stored {
    pub key: TrackKey,
    pub state: State,
    pub since: Millis,
    pub value: Option<f64>,
    pub told_firing: bool,
    /// For the history, when the change is one (fired or resolved).
    pub history: Option<HistoryRow>,
    /// Webhook deliveries: (url, notice JSON).
    pub deliveries: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub rule: String,
    pub reason: String,
    pub at: Millis,
    pub told: bool,
}

/// Stores changes in one transaction: states (an ok state never told firing is deleted, so
/// the table holds only what matters), history rows (trimmed to [`HISTORY_KEPT`]) and
/// deliveries.
pub fn save(conn: &Connection, changes: &[Stored], now: Millis) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT INTO alert_states (rule_id, sensor, metric, state, since, value, told_firing)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (rule_id, sensor, metric) DO UPDATE SET state = excluded.state,
                 since = excluded.since, value = excluded.value, told_firing = excluded.told_firing",
        )?;
        let mut drop = tx.prepare_cached(
            "DELETE FROM alert_states WHERE rule_id = ?1 AND sensor = ?2 AND metric = ?3",
        )?;
        let mut hist = tx.prepare_cached(
            "INSERT INTO alert_history (rule_id, rule, reason, sensor, metric, state, since, at, value, told)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut deliver = tx.prepare_cached(
            "INSERT INTO alert_deliveries (url, notice, created_at, next_at) VALUES (?1, ?2, ?3, ?3)",
        )?;
        let mut trimmed = false;
        for c in changes {
            let k = &c.key;
            if c.state == State::Ok && !c.told_firing {
                drop.execute(params![k.rule_id, k.sensor, k.metric])?;
            } else {
                put.execute(params![
                    k.rule_id,
                    k.sensor,
                    k.metric,
                    c.state.as_str(),
                    c.since,
                    c.value,
                    c.told_firing
                ])?;
            }
            if let Some(h) = &c.history {
                hist.execute(params![
                    k.rule_id,
                    h.rule,
                    h.reason,
                    k.sensor,
                    k.metric,
                    c.state.as_str(),
                    c.since,
                    h.at,
                    c.value,
                    h.told
                ])?;
                trimmed = true;
            }
            for (url, notice) in &c.deliveries {
                deliver.execute(params![url, notice, now])?;
            }
        }
        if trimmed {
            tx.execute(
                "DELETE FROM alert_history WHERE id <= (SELECT max(id) FROM alert_history) - ?1",
                [HISTORY_KEPT],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Deletes the states of rules that are gone or start over (`kept`: the rest).
pub fn drop_states_except(conn: &Connection, kept: &[i64]) -> Result<(), StoreError> {
    let list = kept
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    conn.execute(
        &format!("DELETE FROM alert_states WHERE rule_id NOT IN ({list})"),
        [],
    )?;
    Ok(())
}

/// Where a sensor's usual interval is kept in the settings for offline rules
/// (`alert_interval:ID`, milliseconds; empty for none).
pub const INTERVAL_KEY: &str = "alert_interval:";

/// When each sensor was last heard from (host clock), and its usual interval if one was kept.
pub fn heard(conn: &Connection) -> Result<Vec<(String, Millis, Option<Millis>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.key, s.last_seen, NULLIF(CAST(i.value AS INTEGER), 0) FROM sensors s \
         LEFT JOIN settings i ON i.key = ?1 || s.key",
    )?;
    let rows = stmt.query_map([INTERVAL_KEY], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Keeps sensors' usual intervals (see [`INTERVAL_KEY`]).
pub fn keep_intervals(conn: &Connection, intervals: &[(String, Millis)]) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT INTO settings (key, value) VALUES (?1 || ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?;
        for (sensor, ms) in intervals {
            put.execute(params![INTERVAL_KEY, sensor, ms.to_string()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// A series' sensor id and metric.
pub fn series_names(conn: &Connection, id: i64) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT s.key, m.metric FROM series m JOIN sensors s ON s.id = m.sensor_id WHERE m.id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Where a sensor's display name is kept in the settings (`sensor_name:ID`, empty for none).
pub const SENSOR_NAME_KEY: &str = "sensor_name:";

/// Every sensor's display name, by id: the name set on the dashboard (under
/// [`SENSOR_NAME_KEY`], as `Api::rename_sensor` keeps it), else the device's own.
pub fn sensor_names(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.key, COALESCE(NULLIF(n.value, ''), s.name) AS shown FROM sensors s \
         LEFT JOIN settings n ON n.key = ?1 || s.key WHERE shown IS NOT NULL",
    )?;
    let rows = stmt.query_map([SENSOR_NAME_KEY], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One history row as stored.
#[derive(Debug, Clone)]
pub struct Past {
    pub rule_id: i64,
    pub rule: String,
    pub reason: String,
    pub sensor: String,
    pub metric: String,
    pub state: State,
    pub since: Millis,
    pub at: Millis,
    pub value: Option<f64>,
    pub told: bool,
}

/// The last `n` history rows, newest first.
pub fn history(conn: &Connection, n: i64) -> Result<Vec<Past>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT rule_id, rule, reason, sensor, metric, state, since, at, value, told
         FROM alert_history ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([n], |r| {
        Ok(Past {
            rule_id: r.get(0)?,
            rule: r.get(1)?,
            reason: r.get(2)?,
            sensor: r.get(3)?,
            metric: r.get(4)?,
            state: State::parse(&r.get::<_, String>(5)?).unwrap_or(State::Ok),
            since: r.get(6)?,
            at: r.get(7)?,
            value: r.get(8)?,
            told: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The webhooks added in Settings: (id, url with credentials).
pub fn webhooks(conn: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, url FROM alert_webhooks ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn add_webhook(conn: &Connection, url: &str) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO alert_webhooks (url) VALUES (?1) ON CONFLICT (url) DO NOTHING",
        [url],
    )?;
    Ok(
        conn.query_row("SELECT id FROM alert_webhooks WHERE url = ?1", [url], |r| {
            r.get(0)
        })?,
    )
}

pub fn remove_webhook(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM alert_webhooks WHERE id = ?1", [id])? == 1)
}

/// A delivery waiting to be made.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub url: String,
    pub notice: String,
    pub created_at: Millis,
    pub attempts: i64,
    pub next_at: Millis,
}

/// The oldest waiting delivery of every URL: deliveries to one URL go in order, so only the
/// head of each queue is tried.
pub fn delivery_heads(conn: &Connection) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, url, notice, created_at, attempts, next_at FROM alert_deliveries
         WHERE id IN (SELECT min(id) FROM alert_deliveries GROUP BY url) ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Delivery {
            id: r.get(0)?,
            url: r.get(1)?,
            notice: r.get(2)?,
            created_at: r.get(3)?,
            attempts: r.get(4)?,
            next_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A delivery made, or given up.
pub fn delivered(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM alert_deliveries WHERE id = ?1", [id])?;
    Ok(())
}

/// A failed try: the next at `next_at`.
pub fn retry_at(
    conn: &Connection,
    id: i64,
    next_at: Millis,
    error: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE alert_deliveries SET attempts = attempts + 1, next_at = ?2, last_error = ?3 WHERE id = ?1",
        params![id, next_at, error],
    )?;
    Ok(())
}

impl super::Reader {
    /// Runs `f` on a pooled read-only connection, for the alerts' queries above.
    pub fn alerts<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_values_and_kept_intervals_read_back_from_a_real_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.db");
        let mut conn = Connection::open(&path).unwrap();
        super::super::migrate::run(&mut conn, &path).unwrap();
        conn.execute_batch(
            "INSERT INTO sensors (id, key, source, first_seen, last_seen) VALUES
                 (1, 'porch', 'http', 0, 500), (2, 'shed', 'http', 0, 600), (3, 'attic', 'http', 0, 700);
             INSERT INTO series (id, sensor_id, metric, last_value, last_measured_at) VALUES
                 (10, 1, 'temperature', 4.5, 400), (11, 1, 'humidity', NULL, NULL);",
        )
        .unwrap();
        assert_eq!(
            newest_values(&conn, &[10, 11, 99]).unwrap(),
            [(10, 400, 4.5)]
        );
        keep_intervals(&conn, &[("porch".into(), 10_000), ("shed".into(), 5_000)]).unwrap();
        keep_intervals(&conn, &[("porch".into(), 20_000)]).unwrap();
        // Deleting a sensor clears its settings to empty: no interval.
        conn.execute(
            "UPDATE settings SET value = '' WHERE key = ?1 || 'shed'",
            [INTERVAL_KEY],
        )
        .unwrap();
        let mut got = heard(&conn).unwrap();
        got.sort();
        assert_eq!(
            got,
            [
                ("attic".to_owned(), 700, None),
                ("porch".to_owned(), 500, Some(20_000)),
                ("shed".to_owned(), 600, None)
            ]
        );
    }

    #[test]
    fn a_full_feed_leaves_commits_out_and_names_their_series() {
        let feed = AlertFeed::with_capacity(4);
        feed.send(vec![(1, 10, 1.0)]);
        assert_eq!(
            feed.take(Duration::ZERO),
            None,
            "not connected: nothing queued"
        );
        feed.connect();
        feed.send(vec![(1, 10, 1.0), (2, 10, 2.0)]);
        feed.send(vec![(1, 11, 1.5)]);
        // Past the capacity: left out, and so is the next commit that would still fit.
        feed.send(vec![(3, 12, 3.0), (3, 13, 3.0)]);
        feed.send(vec![(4, 12, 4.0)]);
        let mut taken = feed.take(Duration::ZERO).expect("connected");
        taken.skipped.sort_unstable();
        assert_eq!(
            taken,
            Taken {
                samples: vec![(1, 10, 1.0), (2, 10, 2.0), (1, 11, 1.5)],
                skipped: vec![3, 4],
                skipped_samples: 3,
            }
        );
        // Taking empties it: commits are queued again.
        feed.send(vec![(5, 14, 5.0)]);
        assert_eq!(
            feed.take(Duration::ZERO).expect("connected").samples,
            [(5, 14, 5.0)]
        );
        feed.send(vec![(6, 15, 6.0)]);
        feed.disconnect();
        assert_eq!(
            feed.take(Duration::ZERO).expect("drained").samples,
            [(6, 15, 6.0)]
        );
        assert_eq!(feed.take(Duration::from_secs(5)), None);
    }
}
