//! The alert evaluator's cost per committed sample, as the evaluation thread pays it: 100 rules
//! over 50 sensors (per sensor, temperature above 30 °C for 5 min and humidity above 70 % for
//! 6 h), fed four million samples in commit order: per reading a temperature and a humidity, and
//! the dew point and absolute humidity Clima derives (no rule watches those). Series are passed
//! by id, named once, as the engine does.
//!
//! `cargo bench -p clima-model --bench alerts`

use std::time::Instant;

use clima_model::alert::{Evaluator, Rule};

const SENSORS: usize = 50;
const READINGS: usize = 1_000_000;

fn rule(v: serde_json::Value) -> Rule {
    Rule::from_json(&v).expect("a valid rule")
}

fn main() {
    let sensors: Vec<String> = (0..SENSORS).map(|i| format!("room-{i}")).collect();
    let rules = sensors
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            [
                (2 * i as i64, rule(serde_json::json!({"sensor": s, "metric": "temperature", "condition": "above", "threshold": 30, "for": "5m"}))),
                (2 * i as i64 + 1, rule(serde_json::json!({"sensor": s, "metric": "humidity", "condition": "above", "threshold": 70, "for": "6h"}))),
            ]
        })
        .collect();
    let mut e = Evaluator::new(rules, Vec::new(), Vec::new());
    const METRICS: [&str; 4] = ["temperature", "humidity", "dew_point", "absolute_humidity"];
    for (i, s) in sensors.iter().enumerate() {
        for (m, metric) in METRICS.iter().enumerate() {
            e.name_series((i * METRICS.len() + m) as i64, s, metric);
        }
    }
    let mut out = Vec::new();
    let base: i64 = 1_795_000_000_000;
    for round in 0..2 {
        let started = Instant::now();
        for g in 0..READINGS {
            let first = ((g % SENSORS) * METRICS.len()) as i64;
            let at = base + (round * READINGS + g) as i64;
            // Temperatures wander across the line now and then, so some tracks change state.
            let t = 20.0 + ((g / SENSORS) % 1500) as f64 * 0.01;
            for (m, v) in [t, 55.5, t - 8.0, 9.5].into_iter().enumerate() {
                assert!(e.observe_series(first + m as i64, at, v, at, &mut out));
            }
        }
        let elapsed = started.elapsed();
        let samples = METRICS.len() * READINGS;
        println!(
            "result round={} samples={samples} seconds={:.3} ns_per_sample={:.0} samples_per_s={:.0} changes={}",
            round + 1,
            elapsed.as_secs_f64(),
            elapsed.as_nanos() as f64 / samples as f64,
            samples as f64 / elapsed.as_secs_f64(),
            out.len()
        );
        out.clear();
    }
}
