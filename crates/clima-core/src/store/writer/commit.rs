//! Group commit: stores a batch of queued writes in one transaction, answers each caller with
//! its receipt, then tells the hub the newest values.

use std::time::Duration;

use std::collections::hash_map::Entry;

use foldhash::HashMap;

use clima_model::clock::ClockWatch;
use clima_model::derive::derive;
use clima_model::{chunk, Millis, Reading, HOUR};
use rusqlite::{OptionalExtension, TransactionBehavior};

use super::{Conflict, Job, Known, Receipt, SensorCache, Source, Writer};
use crate::hub::LiveSample;
use crate::now_ms;
use crate::store::layout::{insert_rows, load_hour, Inserted, Rollups, Row, Runs, Table};
use crate::store::StoreError;

/// The newest sample of one series within a commit.
struct Newest<'a> {
    sensor: i64,
    at: Millis,
    value: f64,
    received_at: Millis,
    reading: &'a Reading,
    metric: &'a str,
    /// Derived by Clima (`clima_model::derive`), not sent by the device.
    derived: bool,
}

impl Writer {
    pub(super) fn commit_and_answer(&mut self, group: Vec<Job>) {
        let horizon = self.horizon;
        let outcome = self.commit(&group);
        match outcome {
            Ok((receipts, live)) => {
                if self.problem.lock().expect("store problem").take().is_some() {
                    tracing::info!("commits succeed again; ingest has resumed");
                }
                // Viewers hear of the commit before its writers are answered, so a client that
                // reads the stream after its reply has the news already.
                self.hub.publish(live);
                for (job, receipt) in group.into_iter().zip(receipts) {
                    self.log_conflicts(&receipt.conflicts);
                    self.stats.count(job.source, &receipt);
                    (job.done)(Ok(receipt));
                }
            }
            Err(e) => {
                // The transaction rolled back: ids cached during it may not exist, and the
                // horizon it moved is back where it was.
                self.sensors = SensorCache::default();
                self.series.clear();
                self.horizon = horizon;
                let e = e.for_each_caller();
                tracing::error!(error = %e, requests = group.len(), "commit failed");
                *self.problem.lock().expect("store problem") = Some(e.to_string());
                self.stats
                    .failed_commits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for job in group {
                    (job.done)(Err(e.for_each_caller()));
                }
            }
        }
    }

    /// Says in the log that a sensor sent conflicting values, once a minute per sensor.
    fn log_conflicts(&mut self, conflicts: &[Conflict]) {
        const EVERY: Duration = Duration::from_secs(60);
        for c in conflicts {
            let now = std::time::Instant::now();
            let due = self
                .conflicts_logged
                .get(&c.sensor)
                .is_none_or(|last| now.duration_since(*last) >= EVERY);
            if due {
                self.conflicts_logged.insert(c.sensor.clone(), now);
                tracing::warn!(
                    sensor = %c.sensor, metric = %c.metric, measured_at = c.measured_at,
                    stored = c.stored, sent = c.sent,
                    "a reading conflicts with the value stored for its time; the stored value stands"
                );
            }
        }
        if self.conflicts_logged.len() > 10_000 {
            self.conflicts_logged.clear();
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
        let mut clocks: HashMap<i64, ClockWatch> = HashMap::default();
        // The first value of each (series, time) in this commit: a later copy is a resend or a
        // conflict, and never reaches a table or the hub.
        let mut firsts: HashMap<(i64, Millis), f64> = HashMap::default();
        let mut rolled = Rollups::default();
        let mut sealed = HashMap::default();
        let mut fresh = Runs::default();
        // What this commit stores, for the forward log (kept only while a forwarder runs) and
        // for the alerts' evaluation (only while a rule is enabled).
        let logging = self.cfg.outbox.is_active();
        let alerting = self.cfg.alerts.is_active();
        let keep = logging || alerting;
        let mut forward = std::mem::take(&mut self.logged);
        forward.clear();
        {
            let (mut recent, mut old) = (Vec::new(), Vec::new());
            // Where each row of `recent` and `old` came from, for naming its conflicts.
            let (mut recent_from, mut old_from) = (Vec::new(), Vec::new());
            for job in group {
                // The device's values first, then what Clima derives from them (dew point,
                // absolute humidity): a device's own value always wins its time, and derived
                // values count in no receipt, so a reply speaks only of what was sent.
                let mut answer = Receipt::default();
                for device in [true, false] {
                    let mut receipt = Receipt::default();
                    recent.clear();
                    old.clear();
                    recent_from.clear();
                    old_from.clear();
                    let mut packed = 0;
                    for (i, reading) in job.readings.iter().enumerate() {
                        let derived = if device {
                            Vec::new()
                        } else {
                            derive(&reading.values)
                        };
                        if !device && derived.is_empty() {
                            continue;
                        }
                        let values = reading
                            .values
                            .iter()
                            .filter(|_| device)
                            .map(|(m, v)| (m.as_str(), *v))
                            .chain(derived.iter().copied());
                        let received_at = job.received.get(i).copied().unwrap_or(job.received_at);
                        let sensor = sensor_id(&tx, &mut self.sensors, reading, job)?;
                        let at = reading.measured_at.unwrap_or(received_at);
                        if device {
                            seen.insert(sensor, (reading, job.source, received_at));
                            clocks.entry(sensor).or_default().observe(at, received_at);
                        }
                        for (metric, value) in values {
                            let known = series_id(&tx, &mut self.series, sensor, metric)?;
                            let series = known.id;
                            match firsts.entry((series, at)) {
                                Entry::Occupied(first) => {
                                    if *first.get() == value {
                                        receipt.duplicates += 1;
                                    } else {
                                        receipt.conflicts.push(conflict(
                                            self.sensors.key_of(sensor, reading),
                                            metric,
                                            at,
                                            *first.get(),
                                            value,
                                        ));
                                    }
                                    continue;
                                }
                                Entry::Vacant(slot) => {
                                    slot.insert(value);
                                }
                            }
                            let sample = chunk::Sample {
                                at,
                                received_at,
                                value,
                            };
                            if at >= self.horizon {
                                recent.push(Row { series, sample });
                                recent_from.push((reading, metric, sensor));
                            } else if known.newest.is_none_or(|n| at > n) {
                                fresh.add(series, sample);
                                packed += 1;
                                if keep {
                                    forward.push((series, at, value));
                                }
                            } else {
                                old.push(Row { series, sample });
                                old_from.push((reading, metric, sensor));
                            }
                            // A sample at a time already stored may be picked here; the series
                            // update below ignores it, as it is never newer than what is stored.
                            if newest.get(&series).is_none_or(|n| n.at < at) {
                                let n = Newest {
                                    sensor,
                                    at,
                                    value,
                                    received_at,
                                    reading,
                                    metric,
                                    derived: !device,
                                };
                                newest.insert(series, n);
                            }
                        }
                    }
                    // Fresh samples are new by construction; the others may meet what is stored.
                    let attempted = recent.len() + old.len() + packed;
                    let before = receipt.conflicts.len();
                    receipt.conflicts.extend(drop_packed_duplicates(
                        &tx,
                        &mut old,
                        &mut old_from,
                        &mut sealed,
                        &self.sensors,
                    )?);
                    let recent_in = insert_rows(&tx, Table::Recent, &recent, &mut rolled)?;
                    let old_in = insert_rows(&tx, Table::Old, &old, &mut rolled)?;
                    if keep {
                        log_stored(&mut forward, &recent, &recent_in);
                        log_stored(&mut forward, &old, &old_in);
                    }
                    for (inserted, rows, from) in [
                        (&recent_in, &recent, &recent_from),
                        (&old_in, &old, &old_from),
                    ] {
                        for &(k, held) in &inserted.conflicts {
                            let (reading, metric, sensor) = from[k];
                            receipt.conflicts.push(conflict(
                                self.sensors.key_of(sensor, reading),
                                metric,
                                rows[k].sample.at,
                                held,
                                rows[k].sample.value,
                            ));
                        }
                    }
                    receipt.stored = recent_in.stored + old_in.stored + packed;
                    receipt.duplicates +=
                        attempted - receipt.stored - (receipt.conflicts.len() - before);
                    if device {
                        answer = receipt;
                    }
                }
                receipts.push(answer);
            }
            fresh.insert(&tx, &mut rolled)?;
            rolled.upsert(&tx)?;
            let mut upd_sensor = tx.prepare_cached(
                "UPDATE sensors SET last_seen = max(last_seen, ?1), name = coalesce(?2, name), source = ?3,
                        clock_measured_at = ?5, clock_received_at = ?6, clock_backlog = ?7
                 WHERE id = ?4",
            )?;
            for (id, (reading, source, received_at)) in &seen {
                let clock = clocks[id].clock().expect("observed above");
                upd_sensor.execute((
                    received_at,
                    reading.name.as_deref(),
                    source.as_str(),
                    id,
                    clock.measured_at,
                    clock.received_at,
                    clock.backlog,
                ))?;
            }
        }
        let mut live = Vec::with_capacity(newest.len());
        {
            let mut upd_series = tx.prepare_cached(
                "UPDATE series SET last_value = ?1, last_measured_at = ?2, last_received_at = ?3, derived = ?5
                 WHERE id = ?4 AND (last_measured_at IS NULL OR last_measured_at < ?2)",
            )?;
            for (id, n) in &newest {
                if upd_series.execute((n.value, n.at, n.received_at, id, n.derived))? == 1 {
                    live.push(LiveSample {
                        sensor: self.sensors.key_of(n.sensor, n.reading).to_owned(),
                        name: n.reading.name.clone(),
                        metric: n.metric.to_owned(),
                        unit: clima_model::metric::unit_of(n.metric),
                        value: n.value,
                        measured_at: n.at,
                        received_at: n.received_at,
                        clock: clocks.get(&n.sensor).and_then(ClockWatch::clock),
                        derived: n.derived,
                    });
                }
            }
        }
        let head =
            self.cfg
                .outbox
                .append(&tx, if logging { &forward } else { &[] }, &mut self.packed)?;
        tx.commit()?;
        self.cfg.outbox.committed(head);
        if alerting {
            self.cfg.alerts.send(forward);
        } else {
            self.logged = forward;
        }
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
}

/// Adds to the forward log the rows an insert stored or met with the same value (a resend is
/// harmless to forward again: a target keeps one point per series and time); conflicts, which
/// were not stored, are left out.
fn log_stored(forward: &mut Vec<(i64, Millis, f64)>, rows: &[Row], inserted: &Inserted) {
    let refused: foldhash::HashSet<usize> = inserted.conflicts.iter().map(|&(k, _)| k).collect();
    forward.extend(
        rows.iter()
            .enumerate()
            .filter(|(k, _)| !refused.contains(k))
            .map(|(_, r)| (r.series, r.sample.at, r.sample.value)),
    );
}

/// Removes rows whose time is already in their hour's chunk or pieces (a resent backlog), and
/// returns those that hold another value there as conflicts. `sealed` caches each hour's
/// samples for the commit; `from` says where each row came from and is kept in step.
fn drop_packed_duplicates<'a>(
    tx: &rusqlite::Transaction,
    rows: &mut Vec<Row>,
    from: &mut Vec<(&'a Reading, &'a str, i64)>,
    sealed: &mut HashMap<(i64, Millis), Vec<(Millis, f64)>>,
    sensors: &SensorCache,
) -> Result<Vec<Conflict>, StoreError> {
    let mut conflicts = Vec::new();
    let mut keep = 0;
    for i in 0..rows.len() {
        let r = &rows[i];
        let key = (r.series, r.sample.at.div_euclid(HOUR) * HOUR);
        let held = match sealed.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(
                load_hour(tx, key.0, key.1)?
                    .into_iter()
                    .map(|s| (s.at, s.value))
                    .collect(),
            ),
        };
        match held.binary_search_by_key(&r.sample.at, |(at, _)| *at) {
            Ok(j) => {
                let stored = held[j].1;
                if stored != r.sample.value {
                    let (reading, metric, sensor) = from[i];
                    conflicts.push(conflict(
                        sensors.key_of(sensor, reading),
                        metric,
                        r.sample.at,
                        stored,
                        r.sample.value,
                    ));
                }
            }
            Err(_) => {
                rows.swap(keep, i);
                from.swap(keep, i);
                keep += 1;
            }
        }
    }
    rows.truncate(keep);
    from.truncate(keep);
    Ok(conflicts)
}

fn conflict(sensor: &str, metric: &str, at: Millis, stored: f64, sent: f64) -> Conflict {
    Conflict {
        sensor: sensor.to_owned(),
        metric: metric.to_owned(),
        measured_at: at,
        stored,
        sent,
    }
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

/// The sensor row of a reading. A line-protocol series is found by its series key; a new one
/// takes its readable id, or that id with the series' fingerprint when another series (or a
/// sensor of another format) holds it. A sensor from before series identity (no series key,
/// last written by line protocol) with that readable id is taken over by the first series that
/// comes with it. A sensor known by another key than its reading's readable id is noted in
/// `renamed`, for what is published.
fn sensor_id(
    tx: &rusqlite::Transaction,
    cache: &mut SensorCache,
    reading: &Reading,
    job: &Job,
) -> Result<i64, StoreError> {
    let Some(series) = &reading.series else {
        return plain_sensor_id(tx, &mut cache.plain, reading.sensor.as_str(), reading, job);
    };
    if let Some(id) = cache.series.get(series.key()) {
        return Ok(*id);
    }
    let readable = reading.sensor.as_str();
    let known: Option<(i64, String)> = tx
        .prepare_cached("SELECT id, key FROM sensors WHERE series_key = ?1")?
        .query_row([series.key()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (id, key) = match known {
        Some(found) => found,
        None => {
            let holder: Option<(i64, Option<String>, String)> = tx
                .prepare_cached("SELECT id, series_key, source FROM sensors WHERE key = ?1")?
                .query_row([readable], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let tags =
                serde_json::to_string(series).map_err(|e| StoreError::Failed(e.to_string()))?;
            match holder {
                Some((id, None, source)) if source == Source::LineProtocol.as_str() => {
                    tx.prepare_cached(
                        "UPDATE sensors SET series_key = ?1, series_tags = ?2 WHERE id = ?3",
                    )?
                    .execute((series.key(), &tags, id))?;
                    (id, readable.to_owned())
                }
                None => (
                    insert_sensor(tx, readable, reading, job, Some((series.key(), &tags)))?,
                    readable.to_owned(),
                ),
                Some(_) => {
                    let key = free_key(tx, readable, &series.fingerprint())?;
                    (
                        insert_sensor(tx, &key, reading, job, Some((series.key(), &tags)))?,
                        key,
                    )
                }
            }
        }
    };
    if key != readable {
        cache.renamed.insert(id, key);
    }
    cache.series.insert(series.key().to_owned(), id);
    Ok(id)
}

/// `readable` with a fingerprint, shortened to fit a sensor id, and a counter in the unlikely
/// case that is taken too.
fn free_key(
    tx: &rusqlite::Transaction,
    readable: &str,
    fingerprint: &str,
) -> Result<String, StoreError> {
    let stem: String = readable
        .chars()
        .take(clima_model::sensor::MAX_SENSOR_ID - fingerprint.len() - 4)
        .collect();
    for n in 0.. {
        let key = match n {
            0 => format!("{stem}-{fingerprint}"),
            n => format!("{stem}-{fingerprint}-{n}"),
        };
        let taken: Option<i64> = tx
            .prepare_cached("SELECT id FROM sensors WHERE key = ?1")?
            .query_row([&key], |r| r.get(0))
            .optional()?;
        if taken.is_none() {
            return Ok(key);
        }
    }
    unreachable!("some counter is free")
}

fn plain_sensor_id(
    tx: &rusqlite::Transaction,
    cache: &mut HashMap<String, i64>,
    key: &str,
    reading: &Reading,
    job: &Job,
) -> Result<i64, StoreError> {
    if let Some(id) = cache.get(key) {
        return Ok(*id);
    }
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM sensors WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => insert_sensor(tx, key, reading, job, None)?,
    };
    cache.insert(key.to_owned(), id);
    Ok(id)
}

fn insert_sensor(
    tx: &rusqlite::Transaction,
    key: &str,
    reading: &Reading,
    job: &Job,
    series: Option<(&str, &str)>,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO sensors (key, name, source, first_seen, last_seen, series_key, series_tags)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
    )?
    .execute((
        key,
        reading.name.as_deref(),
        job.source.as_str(),
        job.received_at,
        series.map(|s| s.0),
        series.map(|s| s.1),
    ))?;
    Ok(tx.last_insert_rowid())
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
    use clima_model::downsample::BucketPlan;
    use rusqlite::Connection;

    use super::*;
    use crate::hub::Hub;
    use crate::store::writer::testing::{default_writer, reading, same_buckets};
    use crate::store::{open, spawn_writer, Reader, WriterConfig};

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
        // The same time twice in one batch with another value: the first copy is kept, and
        // the second is a conflict.
        batch.push(reading("p", start + 60_000, 150.0));
        let receipt = w.write(batch, Source::Http, now).unwrap();
        assert_eq!((receipt.stored, receipt.duplicates), (14_400, 0));
        assert_eq!(receipt.conflicts.len(), 1);
        assert_eq!(receipt.conflicts[0].sent, 150.0);
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
                duplicates: 10,
                conflicts: Vec::new()
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

    #[test]
    fn conflicts_are_told_apart_from_resends_and_the_stored_value_is_the_one_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let hub = Hub::default();
        let mut live = hub.subscribe();
        let (w, _t) = spawn_writer(open(&path).unwrap(), hub, WriterConfig::default()).unwrap();
        let now = now_ms();
        let (recent, late) = (now - 5_000, now - 3 * HOUR);
        // Within one batch: a resend, and a conflict that comes last (and so is newest).
        let r = w
            .write(
                vec![
                    reading("c", recent, 20.0),
                    reading("c", recent, 20.0),
                    reading("c", recent, 25.0),
                    reading("c", late, 10.0),
                ],
                Source::Http,
                now,
            )
            .unwrap();
        assert_eq!((r.stored, r.duplicates, r.conflicts.len()), (2, 1, 1));
        assert_eq!((r.conflicts[0].stored, r.conflicts[0].sent), (20.0, 25.0));
        // What is published and shown is what was stored.
        let published = live.try_recv().unwrap();
        assert_eq!(
            published.iter().map(|s| s.value).collect::<Vec<_>>(),
            [20.0]
        );
        let reader = Reader::new(path.clone());
        let shown = |reader: &Reader| reader.latest().unwrap()[0].value;
        assert_eq!(shown(&reader), 20.0);
        // Across batches, in the recent table and among packed and late samples alike.
        let r = w
            .write(
                vec![
                    reading("c", recent, 20.0),
                    reading("c", recent, 30.0),
                    reading("c", late, 10.0),
                    reading("c", late, 11.0),
                ],
                Source::Http,
                now,
            )
            .unwrap();
        assert_eq!(
            (r.stored, r.duplicates, r.conflicts.len()),
            (0, 2, 2),
            "{r:?}"
        );
        let sent: Vec<f64> = r.conflicts.iter().map(|c| c.sent).collect();
        assert_eq!(sent, [30.0, 11.0]);
        assert!(
            live.try_recv().is_err(),
            "nothing new was stored, so nothing is published"
        );
        assert_eq!(shown(&reader), 20.0);
        // After the late sample is sealed into a chunk, a conflict with it is still seen.
        w.maintain().unwrap();
        let r = w
            .write(vec![reading("c", late, 12.0)], Source::Http, now)
            .unwrap();
        assert_eq!(
            (r.stored, r.duplicates, r.conflicts.len()),
            (0, 0, 1),
            "{r:?}"
        );
        let plan = BucketPlan::new(late, late + 1, 1).unwrap();
        let kept = reader.range("c", "temperature", &plan).unwrap().unwrap();
        assert_eq!((kept[0].count, kept[0].mean), (1, Some(10.0)));
    }
}
