//! How long `chart::render` takes for 1,000 and 10,000 buckets (the dashboard asks for at most
//! 1,000; the API allows 10,000). Run: `cargo bench -p clima-core --bench chart`.

use std::time::{Duration, Instant};

use clima_core::chart::{render, ChartSpec, DateStyle, TempUnit};
use clima_model::downsample::Bucket;

/// A day of temperature-like data with spread in every bucket and an outage every 997 buckets.
fn buckets(n: usize) -> Vec<Bucket> {
    (0..n)
        .map(|i| {
            let t = i as i64 * 60_000;
            if i % 997 > 990 {
                return Bucket {
                    t,
                    mean: None,
                    min: None,
                    max: None,
                    count: 0,
                };
            }
            let x = i as f64 / 50.0;
            let mean = 21.0 + 3.0 * x.sin() + 0.3 * (x * 7.0).cos();
            Bucket {
                t,
                mean: Some(mean),
                min: Some(mean - 0.4),
                max: Some(mean + 0.4),
                count: 12,
            }
        })
        .collect()
}

fn main() {
    let spec = ChartSpec {
        width: 1200,
        height: 240,
        unit: Some("°C".into()),
        temp_unit: TempUnit::Celsius,
        bucket_ms: 60_000,
        utc_offset_s: 0,
        dates: DateStyle::DayMonth,
        title: None,
    };
    println!("| buckets | SVG size | median | p90 | runs |");
    println!("|---:|---:|---:|---:|---:|");
    for n in [1_000, 10_000] {
        let data = buckets(n);
        // Warm up (font registration, allocator).
        let size = render(&data, &spec).expect("renders").svg.len();
        let mut times: Vec<Duration> = Vec::new();
        let started = Instant::now();
        while times.len() < 20 || (started.elapsed() < Duration::from_secs(3) && times.len() < 500)
        {
            let t = Instant::now();
            let chart = render(&data, &spec).expect("renders");
            times.push(t.elapsed());
            std::hint::black_box(chart);
        }
        times.sort();
        let pick = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        println!(
            "| {n} | {:.0} KiB | {:.2} ms | {:.2} ms | {} |",
            size as f64 / 1024.0,
            pick(0.5).as_secs_f64() * 1e3,
            pick(0.9).as_secs_f64() * 1e3,
            times.len()
        );
    }
}
