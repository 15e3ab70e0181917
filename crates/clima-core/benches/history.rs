//! History benchmark (`cargo bench -p clima-core --bench history`): generates a year of 1 Hz
//! readings for one sensor through the writer (rollups on), then measures bytes on disk per
//! reading and the latency of 1 h, 24 h, 30 d and 1 y chart queries of 1,000 points.
//! `CLIMA_BENCH_DAYS` shortens the generated history; `CLIMA_BENCH_SENSORS` and
//! `CLIMA_BENCH_METRICS` widen it (issue 5's storage figure is 30 days, 10 sensors, 3 metrics).

use std::time::{Duration, Instant};

use clima_core::hub::Hub;
use clima_core::now_ms;
use clima_core::store::{open, spawn_writer, Reader, WriterConfig};
use clima_model::downsample::BucketPlan;
use clima_model::reading::Draft;
use clima_model::SensorId;

const BATCH: i64 = 50_000;

fn main() {
    let knob = |name: &str, default: i64| {
        std::env::var(name)
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(default)
    };
    let (days, sensors, metrics) = (
        knob("CLIMA_BENCH_DAYS", 365),
        knob("CLIMA_BENCH_SENSORS", 1),
        knob("CLIMA_BENCH_METRICS", 1).clamp(1, 3),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let (writer, thread) = spawn_writer(
        open(&path).unwrap(),
        Hub::default(),
        WriterConfig::default(),
    )
    .unwrap();
    let end = now_ms() / 1000 * 1000;
    let start = end - days * 86_400_000;
    // One stored value is a sample; each reading carries `metrics` of them.
    let total = days * 86_400 * sensors * metrics;
    let ids: Vec<SensorId> = (0..sensors)
        .map(|i| SensorId::parse(&format!("bench-{i}")).unwrap())
        .collect();
    let began = Instant::now();
    let step = BATCH / sensors;
    let mut t = start;
    while t < end {
        let n = step.min((end - t) / 1000);
        let mut readings = Vec::with_capacity((n * sensors) as usize);
        let mut received = Vec::with_capacity(readings.capacity());
        for i in 0..n {
            let at = t + i * 1000;
            for (k, id) in ids.iter().enumerate() {
                // Two-decimal values, as a sensor's text gives them.
                let wave = ((at / 60_000 + k as i64 * 7) % 600) as f64;
                let mut d = Draft::default();
                for (m, (name, base)) in [
                    ("temperature", 2000.0),
                    ("humidity", 4000.0),
                    ("pressure", 101_000.0),
                ]
                .iter()
                .enumerate()
                .take(metrics as usize)
                {
                    d.metric(name, (base + wave + m as f64) / 100.0).unwrap();
                }
                d.measured_at = Some(at);
                readings.push(d.finish(id).unwrap());
                received.push(at + 150);
            }
        }
        writer.write_imported(readings, received).unwrap();
        t += n * 1000;
    }
    let ingest = began.elapsed();
    writer.maintain().unwrap();
    let sealed = began.elapsed();
    writer.stop();
    thread.join().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let pragma = |name: &str| -> u64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    };
    let used = (pragma("page_count") - pragma("freelist_count")) * pragma("page_size");
    let file = std::fs::metadata(&path).unwrap().len();
    println!("## History: {days} days of 1 Hz readings, {sensors} sensor(s) x {metrics} metric(s) ({total} stored values)");
    println!(
        "ingest with rollups: {:.1} s, {:.0} values/s (batches of {BATCH} readings, through the writer)",
        ingest.as_secs_f64(),
        total as f64 / ingest.as_secs_f64()
    );
    println!(
        "sealed into chunks {:.1} s after the start",
        sealed.as_secs_f64()
    );
    println!(
        "on disk: {:.1} MB in use, {:.1} bytes per stored value (chunks, rollups, keys); the file is {:.1} MB",
        used as f64 / 1e6,
        used as f64 / total as f64,
        file as f64 / 1e6
    );

    let reader = Reader::new(path.clone());
    println!("\n| range | bucket | median ms | p95 ms | readings covered |");
    println!("|---|---|---:|---:|---:|");
    for (name, span) in [
        ("1 h", 3_600_000),
        ("24 h", 86_400_000),
        ("30 d", 30 * 86_400_000),
        ("1 y", 365 * 86_400_000),
    ] {
        if span > days * 86_400_000 {
            continue;
        }
        let plan = BucketPlan::new(end - span, end, 1000).unwrap();
        let mut times: Vec<Duration> = Vec::new();
        let mut covered = 0;
        for _ in 0..30 {
            let q = Instant::now();
            let buckets = reader
                .range("bench-0", "temperature", &plan)
                .unwrap()
                .unwrap();
            times.push(q.elapsed());
            covered = buckets.iter().map(|b| b.count).sum::<u64>();
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {name} | {} s | {:.2} | {:.2} | {covered} |",
            plan.width / 1000,
            ms(times[times.len() / 2]),
            ms(times[times.len() * 95 / 100])
        );
    }
}
