//! Group commit: stores a batch of queued writes in one transaction, answers each caller with
//! its receipt, then tells the hub the newest values.

use std::time::Duration;

use foldhash::HashMap;

use clima_model::{chunk, Millis, Reading, HOUR};
use rusqlite::{OptionalExtension, TransactionBehavior};

use super::{Job, Known, Receipt, Source, Writer};
use crate::hub::LiveSample;
use crate::now_ms;
use crate::store::layout::{insert_rows, load_hour, Rollups, Row, Runs, Table};
use crate::store::StoreError;

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
    pub(super) fn commit_and_answer(&mut self, group: Vec<Job>) {
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
    use clima_model::downsample::BucketPlan;
    use rusqlite::Connection;

    use super::*;
    use crate::store::writer::testing::{default_writer, reading, same_buckets};
    use crate::store::Reader;

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
