//! History benchmark (`cargo bench -p clima-core --bench history`): generates a year of 1 Hz
//! readings for one sensor through the writer (rollups on), then measures bytes on disk per
//! reading and the latency of 1 h, 24 h, 30 d and 1 y chart queries of 1,000 points.
//! `CLIMA_BENCH_DAYS` shortens the generated history.

use std::time::{Duration, Instant};

use clima_core::hub::Hub;
use clima_core::now_ms;
use clima_core::store::{open, spawn_writer, Reader, WriterConfig};
use clima_model::downsample::BucketPlan;
use clima_model::reading::Draft;
use clima_model::SensorId;

const BATCH: i64 = 50_000;

fn main() {
    let days: i64 = std::env::var("CLIMA_BENCH_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(365);
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
    let total = days * 86_400;
    let sensor = SensorId::parse("bench").unwrap();
    let began = Instant::now();
    let mut t = start;
    while t < end {
        let readings: Vec<_> = (0..BATCH.min((end - t) / 1000))
            .map(|i| {
                let at = t + i * 1000;
                let mut d = Draft::default();
                d.metric("temperature", 20.0 + ((at / 60_000) % 600) as f64 / 100.0)
                    .unwrap();
                d.measured_at = Some(at);
                d.finish(&sensor).unwrap()
            })
            .collect();
        let n = readings.len() as i64;
        let received = (0..n).map(|i| t + i * 1000 + 150).collect();
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
    println!("## History: {days} days of 1 Hz readings, one sensor, one metric ({total} readings)");
    println!(
        "ingest with rollups: {:.1} s, {:.0} readings/s (batches of {BATCH}, through the writer)",
        ingest.as_secs_f64(),
        total as f64 / ingest.as_secs_f64()
    );
    println!(
        "sealed into chunks {:.1} s after the start",
        sealed.as_secs_f64()
    );
    println!(
        "on disk: {:.1} MB in use, {:.1} bytes per reading (chunks, rollups, keys); the file is {:.1} MB, the rest free pages for reuse",
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
                .range("bench", "temperature", &plan)
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
