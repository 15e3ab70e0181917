//! Sensor housekeeping on the writer thread: deleting a sensor with every row it owns, and
//! merging one sensor's history into another's through the ordinary group commit.

use std::collections::BTreeSet;

use clima_model::metric::Metric;
use clima_model::{Millis, Reading, SensorId, HOUR};
use rusqlite::{OptionalExtension, TransactionBehavior};

use super::{count, Job, Msg, Receipt, SensorCache, Source, Writer};
use crate::store::export::{data_span, hour_samples};
use crate::store::StoreError;

/// Readings one merge commit takes, as an import's batches.
const MERGE_BATCH: usize = 5_000;

/// A housekeeping request, answered once done.
pub(super) enum Chore {
    Delete {
        sensor: String,
        reply: std::sync::mpsc::SyncSender<Result<bool, StoreError>>,
    },
    Merge {
        from: String,
        into: String,
        reply: std::sync::mpsc::SyncSender<Result<Option<Receipt>, StoreError>>,
    },
}

/// A sensor row's fields that a merge's commits would overwrite with the merged history's.
struct SensorRow {
    id: i64,
    first_seen: Millis,
    last_seen: Millis,
    source: String,
    clock: (Option<Millis>, Option<Millis>, Option<bool>),
}

impl Writer {
    pub(super) fn housekeep(&mut self, chore: Chore) {
        match chore {
            Chore::Delete { sensor, reply } => {
                let _ = reply.send(self.delete_sensor(&sensor));
            }
            Chore::Merge { from, into, reply } => {
                let _ = reply.send(self.merge_sensor(&from, &into));
            }
        }
    }

    /// Deletes a sensor, its series, every sample, piece, chunk and rollup of them, and marks
    /// its entries in the forward log as never to be sent, in one transaction. `false` when there is no such sensor.
    fn delete_sensor(&mut self, key: &str) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(id) = tx
            .query_row("SELECT id FROM sensors WHERE key = ?1", [key], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
        else {
            return Ok(false);
        };
        let of_sensor = "(SELECT id FROM series WHERE sensor_id = ?1)";
        let tables = [
            "recent_samples",
            "samples",
            "pieces",
            "chunks",
            "rollup_hour",
            "hour_rollups",
            "minute_rollups",
        ];
        for table in tables {
            tx.execute(
                &format!("DELETE FROM {table} WHERE series_id IN {of_sensor}"),
                [id],
            )?;
        }
        let series: Vec<i64> = tx
            .prepare("SELECT id FROM series WHERE sensor_id = ?1")?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        crate::store::outbox::Outbox::forget_series(&tx, &series)?;
        tx.execute("DELETE FROM series WHERE sensor_id = ?1", [id])?;
        tx.execute("DELETE FROM sensors WHERE id = ?1", [id])?;
        tx.commit()?;
        self.forget_ids();
        Ok(true)
    }

    /// Copies every sample of `from` into `into` through the group commit (a sample whose time
    /// `into` holds already is a duplicate or a conflict, as in ingest), then deletes `from`.
    /// `into` keeps its own source, clocks and last receipt; its first receipt becomes the older
    /// of the two. `None` when either sensor does not exist.
    ///
    /// The copy runs in batches, each its own commit, and the writes that queue up meanwhile
    /// are committed with each batch, so ingest waits for one batch rather than the whole
    /// merge (BENCHMARKS.md, "Merging a sensor's history"). The hours of readings of `from`
    /// that arrive meanwhile are copied again at the end, with nothing else written,
    /// so deleting `from` loses none. If the process stops half-way, `from` is still there and
    /// the merge can simply be run again (what was copied counts as duplicates).
    fn merge_sensor(&mut self, from: &str, into: &str) -> Result<Option<Receipt>, StoreError> {
        let (Some(source), Some(target)) = (self.sensor_row(from)?, self.sensor_row(into)?) else {
            return Ok(None);
        };
        let Ok(target_id) = SensorId::parse(into) else {
            return Ok(None);
        };
        let mut total = Receipt::default();
        self.merging = Some((from.to_owned(), Default::default()));
        let copied = self.copy_history(source.id, &target_id, None, &mut total);
        let late = self
            .merging
            .take()
            .map(|(_, late)| late)
            .unwrap_or_default();
        copied?;
        if !late.is_empty() {
            // Again the hours that readings came in for meanwhile, with no writes between
            // batches: samples copied already are duplicates and are not counted twice.
            let mut again = Receipt::default();
            self.copy_history(source.id, &target_id, Some(&late), &mut again)?;
            total.stored += again.stored;
            for c in again.conflicts {
                if !total.conflicts.contains(&c) {
                    total.conflicts.push(c);
                }
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE sensors SET first_seen = min(?2, ?3), last_seen = ?4, source = ?5,
                    clock_measured_at = ?6, clock_received_at = ?7, clock_backlog = ?8
             WHERE id = ?1",
            (
                target.id,
                target.first_seen,
                source.first_seen,
                target.last_seen,
                &target.source,
                target.clock.0,
                target.clock.1,
                target.clock.2,
            ),
        )?;
        tx.commit()?;
        self.delete_sensor(from)?;
        Ok(Some(total))
    }

    /// Copies every sample of sensor `source` (of the given hours, or all) into `target`,
    /// hour by hour, in batches.
    fn copy_history(
        &mut self,
        source: i64,
        target_id: &SensorId,
        hours: Option<&BTreeSet<Millis>>,
        total: &mut Receipt,
    ) -> Result<(), StoreError> {
        let series: Vec<(i64, String)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id, metric FROM series WHERE sensor_id = ?1 ORDER BY metric")?;
            let rows = stmt.query_map([source], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut batch: Vec<(Reading, Millis)> = Vec::with_capacity(MERGE_BATCH);
        for (series_id, metric) in &series {
            let Some((first, last)) = data_span(&self.conn, *series_id)? else {
                continue;
            };
            let span: Vec<Millis> = match hours {
                Some(hours) => hours
                    .iter()
                    .copied()
                    .filter(|h| *h + HOUR > first && *h <= last)
                    .collect(),
                None => (first.div_euclid(HOUR)..=last.div_euclid(HOUR))
                    .map(|h| h * HOUR)
                    .collect(),
            };
            for hour in span {
                for s in hour_samples(&self.conn, *series_id, hour, hour, hour + HOUR)? {
                    batch.push((
                        Reading {
                            sensor: target_id.clone(),
                            name: None,
                            measured_at: Some(s.at),
                            values: vec![(Metric::from_stored(metric.clone()), s.value)],
                            series: None,
                            refused: Vec::new(),
                            conflicts: Vec::new(),
                        },
                        s.received_at,
                    ));
                    if batch.len() == MERGE_BATCH {
                        self.merge_batch(&mut batch, total)?;
                    }
                }
            }
        }
        self.merge_batch(&mut batch, total)
    }

    /// Commits one batch of a merge as an import (each sample keeps its time of receipt),
    /// together with the writes queued meanwhile (while the first copy runs).
    fn merge_batch(
        &mut self,
        batch: &mut Vec<(Reading, Millis)>,
        total: &mut Receipt,
    ) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (readings, received): (Vec<_>, Vec<_>) = std::mem::take(batch).into_iter().unzip();
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let job = Job {
            received_at: received[0],
            readings,
            source: Source::Import,
            received,
            done: Box::new(move |r| {
                let _ = reply.send(r);
            }),
        };
        let mut group = vec![job];
        if self.merging.is_some() {
            let mut samples = 0;
            while samples < self.cfg.max_group_samples {
                match self.inbox.try_recv() {
                    Ok(Msg::Write(job)) => {
                        self.note_late(&job);
                        samples += count(&job);
                        group.push(job);
                    }
                    Ok(other) => self.deferred.push_back(other),
                    Err(_) => break,
                }
            }
        }
        self.commit_and_answer(group);
        let receipt = answer.recv().map_err(|_| StoreError::Stopped)??;
        total.stored += receipt.stored;
        total.duplicates += receipt.duplicates;
        total.conflicts.extend(receipt.conflicts);
        Ok(())
    }

    /// Notes the hour of each reading of the sensor being merged in a write that arrived
    /// meanwhile.
    fn note_late(&mut self, job: &Job) {
        let Some((from, late)) = self.merging.as_mut() else {
            return;
        };
        for r in job.readings.iter().filter(|r| r.sensor.as_str() == from) {
            let at = r.measured_at.unwrap_or(job.received_at);
            late.insert(at.div_euclid(HOUR) * HOUR);
        }
    }

    fn sensor_row(&self, key: &str) -> Result<Option<SensorRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, first_seen, last_seen, source, clock_measured_at, clock_received_at, clock_backlog
                 FROM sensors WHERE key = ?1",
                [key],
                |r| {
                    Ok(SensorRow {
                        id: r.get(0)?,
                        first_seen: r.get(1)?,
                        last_seen: r.get(2)?,
                        source: r.get(3)?,
                        clock: (r.get(4)?, r.get(5)?, r.get(6)?),
                    })
                },
            )
            .optional()?)
    }

    /// Drops the cached sensor and series ids, some of which a deletion removed.
    fn forget_ids(&mut self) {
        self.sensors = SensorCache::default();
        self.series.clear();
    }
}
