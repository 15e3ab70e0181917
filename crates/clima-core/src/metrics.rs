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
    for (source, c) in stats.by_source() {
        let l = || vec![("source", source.as_str().to_owned())];
        stored.add(l(), c.stored as f64);
        dup.add(l(), c.duplicates as f64);
        conflicts.add(l(), c.conflicts as f64);
    }
    let mut failed = Family::new(
        "clima_store_failed_commits_total",
        "Commits that failed (disk full, read-only file).",
        "counter",
    );
    failed.add(vec![], stats.failed_commits() as f64);
    out.extend([stored, dup, conflicts, failed]);

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
    for f in forwarders {
        let l = || vec![("target", f.target.clone())];
        lag.add(l(), f.lag_readings as f64);
        lag_s.add(l(), f.lag_seconds);
        errors.add(l(), f.errors as f64);
        delivered.add(l(), f.delivered as f64);
    }
    out.extend([lag, lag_s, errors, delivered]);
    out
}
