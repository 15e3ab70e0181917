//! What `GET /metrics` tells Prometheus: the latest value of every series in base units, the
//! age of each sensor's last reading, and Clima's own counters, as exposition families.

use clima_model::exposition::{series_name, Family};
use clima_model::Millis;

use crate::forward::ForwarderStatus;
use crate::store::{SensorInfo, WriteStats};

/// Families for the store's view: series values, sensor ages, write counts and forwarders.
pub fn families(
    sensors: &[SensorInfo],
    stats: &WriteStats,
    store_problem: bool,
    forwarders: &[ForwarderStatus],
    now: Millis,
) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    let mut age = Family::new(
        "clima_last_reading_age_seconds",
        "Seconds since the sensor's last reading was received.",
        "gauge",
    );
    for s in sensors {
        let labels = || {
            let mut l = vec![("sensor", s.sensor.clone())];
            if let Some(n) = &s.name {
                l.push(("name", n.clone()));
            }
            l
        };
        age.add(labels(), (now - s.last_seen).max(0) as f64 / 1000.0);
        for m in &s.metrics {
            let Some(value) = m.value else { continue };
            let (name, factor) = series_name(&m.metric);
            let at = match out.iter().position(|f| f.name == name) {
                Some(i) => i,
                None => {
                    out.push(Family::new(
                        name,
                        "Latest value of the series, in base units.",
                        "gauge",
                    ));
                    out.len() - 1
                }
            };
            out[at].add(labels(), value * factor);
        }
    }
    out.push(age);

    let mut stored = Family::new(
        "clima_readings_stored_total",
        "Values stored, by source.",
        "counter",
    );
    let mut dup = Family::new(
        "clima_readings_deduplicated_total",
        "Values resent with the value already stored, by source.",
        "counter",
    );
    let mut conflicts = Family::new(
        "clima_readings_conflicting_total",
        "Values refused because another value is stored for their time, by source.",
        "counter",
    );
    let mut rejected = Family::new(
        "clima_readings_rejected_total",
        "Readings refused whole (unparseable, no valid value) and single values refused (implausible), by source.",
        "counter",
    );
    for (source, c) in stats.by_source() {
        let l = || vec![("source", source.as_str().to_owned())];
        stored.add(l(), c.stored as f64);
        dup.add(l(), c.duplicates as f64);
        conflicts.add(l(), c.conflicts as f64);
        rejected.add(l(), c.rejected as f64);
    }
    let mut failed = Family::new(
        "clima_store_failed_commits_total",
        "Commits that failed (disk full, read-only file).",
        "counter",
    );
    failed.add(vec![], stats.failed_commits() as f64);
    let mut problem = Family::new(
        "clima_store_problem",
        "1 while the store cannot write (the last commit failed), else 0.",
        "gauge",
    );
    problem.add(vec![], f64::from(u8::from(store_problem)));
    out.extend([stored, dup, conflicts, rejected, failed, problem]);

    let mut lag = Family::new(
        "clima_forwarder_lag_readings",
        "Values committed but not yet acknowledged by the target.",
        "gauge",
    );
    let mut lag_s = Family::new(
        "clima_forwarder_lag_seconds",
        "Seconds since the forwarder last had everything delivered.",
        "gauge",
    );
    let mut errors = Family::new(
        "clima_forwarder_errors_total",
        "Failed tries to write to the target.",
        "counter",
    );
    let mut delivered = Family::new(
        "clima_forwarder_delivered_total",
        "Values the target acknowledged.",
        "counter",
    );
    let mut refused = Family::new(
        "clima_forwarder_rejected_total",
        "Values in batches the target refused as malformed (logged, then skipped).",
        "counter",
    );
    let mut lost = Family::new(
        "clima_forwarder_lost_total",
        "Values retention removed before they could be forwarded.",
        "counter",
    );
    let mut up = Family::new(
        "clima_forwarder_connected",
        "1 while the forwarder's last write succeeded, else 0.",
        "gauge",
    );
    for f in forwarders {
        let l = || vec![("target", f.target.clone())];
        lag.add(l(), f.lag_readings as f64);
        lag_s.add(l(), f.lag_seconds);
        errors.add(l(), f.errors as f64);
        delivered.add(l(), f.delivered as f64);
        refused.add(l(), f.rejected as f64);
        lost.add(l(), f.lost as f64);
        up.add(l(), f64::from(u8::from(f.state == "connected")));
    }
    out.extend([lag, lag_s, errors, delivered, refused, lost, up]);
    out
}
