//! The evaluation thread: takes the commits' stored samples from the writer (never the
//! throttled live view), runs them through the rules in measured-time order, ticks offline
//! rules every second, and stores, streams and queues for webhooks what changed.

use std::collections::HashMap as StdMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clima_model::alert::{self, Evaluator, Event, Notice, Rule, State, Update};
use clima_model::Millis;

use super::{AlertView, Shared};
use crate::now_ms;
use crate::store::alerts::{self as table, Committed, HistoryRow, Stored};

/// How often offline rules are checked.
const TICK: Duration = Duration::from_secs(1);

/// The shortest time between two takes of the writer's queue: waking for every commit would
/// cost more than evaluating it when commits are small (single readings), and an alert a few
/// milliseconds later changes nothing.
const PACE: Duration = Duration::from_millis(20);

pub(super) fn spawn(shared: Arc<Shared>) -> Result<JoinHandle<()>, std::io::Error> {
    std::thread::Builder::new()
        .name("clima-alerts".into())
        .spawn(move || run(&shared))
}

fn run(shared: &Shared) {
    let mut next_tick = Instant::now() + TICK;
    let mut updates = Vec::new();
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        let Some(mut taken) = shared.feed.take(wait) else {
            break;
        };
        let took = Instant::now();
        let busy = !taken.samples.is_empty() || !taken.skipped.is_empty();
        if busy {
            let now = now_ms();
            let mut e = shared.evaluator.lock().expect("evaluator");
            evaluate(
                shared,
                &mut e,
                std::mem::take(&mut taken.samples),
                now,
                &mut updates,
            );
            if !taken.skipped.is_empty() {
                resume(shared, &mut e, &taken, now, &mut updates);
            }
            if !updates.is_empty() {
                keep(shared, e.rules(), std::mem::take(&mut updates));
            }
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + TICK;
            let now = now_ms();
            let mut e = shared.evaluator.lock().expect("evaluator");
            e.tick(now, &mut updates);
            if !updates.is_empty() {
                keep(shared, e.rules(), std::mem::take(&mut updates));
            }
            flush(shared);
            let intervals = e.intervals_to_keep();
            if !intervals.is_empty() {
                if let Err(err) = shared
                    .writer
                    .run(move |c| table::keep_intervals(c, &intervals))
                {
                    tracing::warn!(error = %err, "alerts: sensors' usual intervals could not be kept; a restart learns them again");
                }
            }
        }
        // Let commits gather (the feed keeps them; the writer never waits).
        if busy {
            std::thread::sleep(PACE.saturating_sub(took.elapsed()));
        }
    }
    let _e = shared.evaluator.lock().expect("evaluator");
    flush(shared);
    tracing::debug!("alert evaluation stopped");
}

/// Runs samples through the rules in measured-time order (a batch's rows come per table and
/// pass, and one take may hold several commits; the sort is stable, so commit order breaks
/// ties); a series met for the first time is named from the store once.
fn evaluate(
    shared: &Shared,
    e: &mut Evaluator,
    mut samples: Committed,
    now: Millis,
    updates: &mut Vec<Update>,
) {
    samples.sort_by_key(|s| s.1);
    for (series, at, value) in samples {
        if e.observe_series(series, at, value, now, updates) {
            continue;
        }
        match shared.reader.alerts(|c| table::series_names(c, series)) {
            Ok(Some((sensor, metric))) => {
                e.name_series(series, &sensor, &metric);
                e.observe_series(series, at, value, now, updates);
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, "alerts: a series could not be looked up; its reading is left out");
            }
        }
    }
}

/// The feed was full (the evaluation stalled) and left samples out: each of their series goes
/// on from its newest stored value, and the gap is logged and counted for the API.
fn resume(
    shared: &Shared,
    e: &mut Evaluator,
    taken: &table::Taken,
    now: Millis,
    updates: &mut Vec<Update>,
) {
    shared
        .skipped
        .fetch_add(taken.skipped_samples, Ordering::Relaxed);
    tracing::warn!(
        samples = taken.skipped_samples,
        series = taken.skipped.len(),
        "alerts: the evaluation fell behind and left samples out; each series goes on from its newest stored value"
    );
    match shared
        .reader
        .alerts(|c| table::newest_values(c, &taken.skipped))
    {
        Ok(newest) => evaluate(shared, e, newest, now, updates),
        Err(err) => {
            tracing::warn!(error = %err, "alerts: the newest values could not be read; the series go on with their next reading");
        }
    }
}

/// Stores the changes kept since the last flush, in one write through the writer, and wakes
/// the webhook deliveries when it queued some. Called with the evaluator locked.
pub(super) fn flush(shared: &Shared) {
    let stored = std::mem::take(&mut *shared.unsaved.lock().expect("unsaved alerts"));
    if stored.is_empty() {
        return;
    }
    let queued = stored.iter().any(|s| !s.deliveries.is_empty());
    let now = now_ms();
    if let Err(e) = shared.writer.run(move |c| table::save(c, &stored, now)) {
        tracing::warn!(error = %e, "alert states could not be stored; a restart may tell them again");
        return;
    }
    if queued {
        shared.deliveries.wake();
    }
}

/// Keeps the changes (states, history, deliveries) for the next flush, and streams them.
/// Called with the evaluator locked, so a rule change waits for it.
pub(super) fn keep(shared: &Shared, rules: &[(i64, Rule)], updates: Vec<Update>) {
    let names: StdMap<String, String> = if updates.iter().any(|u| u.change.notify) {
        shared
            .reader
            .alerts(table::sensor_names)
            .unwrap_or_default()
            .into_iter()
            .collect()
    } else {
        StdMap::new()
    };
    let urls: Vec<String> = {
        let w = shared.webhooks.read().expect("webhooks");
        w.0.iter()
            .chain(w.1.iter().map(|(_, h)| h))
            .map(|h| h.url.clone())
            .collect()
    };
    let mut stored = Vec::with_capacity(updates.len());
    let mut views = Vec::with_capacity(updates.len());
    for u in updates {
        let Some((_, rule)) = rules.iter().find(|(id, _)| *id == u.key.rule_id) else {
            continue;
        };
        let c = &u.change;
        let reason = alert::reason(rule, c.to, c.value);
        let name = names.get(&u.key.sensor).cloned();
        let deliveries = if c.notify {
            let event = if c.to == State::Firing {
                Event::Firing
            } else {
                Event::Resolved
            };
            let notice = Notice::new(
                event,
                u.key.rule_id,
                rule,
                &u.key.sensor,
                name.as_deref(),
                &u.key.metric,
                c.value,
                c.since,
                c.at,
            );
            tracing::info!(rule = u.key.rule_id, sensor = %u.key.sensor, metric = %u.key.metric, "alert {}", notice.text());
            let body = serde_json::to_string(&notice).unwrap_or_default();
            urls.iter().map(|url| (url.clone(), body.clone())).collect()
        } else {
            Vec::new()
        };
        views.push(AlertView {
            rule_id: u.key.rule_id,
            rule: rule.title(),
            sensor: u.key.sensor.clone(),
            name,
            metric: u.key.metric.clone(),
            state: c.to,
            since: c.since,
            at: Some(c.at),
            value: c.value,
            reason: reason.clone(),
            notified: Some(c.notify),
        });
        stored.push(Stored {
            state: c.to,
            since: c.since,
            value: c.value,
            told_firing: u.told_firing,
            history: c.recorded().then(|| HistoryRow {
                rule: rule.title(),
                reason,
                at: c.at,
                told: c.notify,
            }),
            deliveries,
            key: u.key,
        });
    }
    shared
        .unsaved
        .lock()
        .expect("unsaved alerts")
        .extend(stored);
    for v in views {
        let _ = shared.events.send(v);
    }
}
