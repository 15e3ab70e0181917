//! The alert evaluator's cost per committed sample, as the evaluation thread pays it: 100 rules
//! over 50 sensors (per sensor, temperature above 30 °C for 5 min and humidity above 70 % for
//! 6 h), fed two million samples (a temperature and a humidity per reading) in commit order.
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
    let mut out = Vec::new();
    let base: i64 = 1_795_000_000_000;
    for round in 0..2 {
        let started = Instant::now();
        for g in 0..READINGS {
            let sensor = &sensors[g % SENSORS];
            let at = base + (round * READINGS + g) as i64;
            // Temperatures wander across the line now and then, so some tracks change state.
            let t = 20.0 + ((g / SENSORS) % 1500) as f64 * 0.01;
            e.observe(sensor, "temperature", at, t, at, &mut out);
            e.observe(sensor, "humidity", at, 55.5, at, &mut out);
        }
        let elapsed = started.elapsed();
        let samples = 2 * READINGS;
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
