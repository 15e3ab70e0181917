//! Synthetic room climate for the storage benchmark: ten rooms' temperature and humidity as a
//! new user's sensors would report them, written as a Clima CSV export or as line protocol.
//!
//! Each room is one reading per interval with both metrics. Its measured time is the nominal
//! tick plus a timer jitter of 0-20 ms (not accumulating, as a device's NTP-disciplined clock);
//! its time of receipt is 50-400 ms later, uniformly. Each value is a slow mean-reverting random
//! walk (temperature about 21 °C, humidity about 45 %) plus Gaussian sensor noise (σ 0.03 °C,
//! 0.15 %), rounded to two decimals. A fixed seed makes every run produce the same data.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use clima_model::timestamp::format_rfc3339;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// Rooms, each one sensor with two metrics.
pub const ROOMS: usize = 10;

/// One generated reading: a room's two values at one time.
pub struct Reading {
    pub room: usize,
    pub at: i64,
    pub received_at: i64,
    pub temperature: f64,
    pub humidity: f64,
}

/// Every reading of `[end - days, end)`, one per room and interval, in time order.
pub fn readings(interval_s: u64, days: u64, end_ms: i64) -> impl Iterator<Item = Reading> {
    let step = interval_s as i64 * 1000;
    let start = end_ms - days as i64 * 86_400_000;
    let ticks = (end_ms - start) / step;
    let mut rng = SmallRng::seed_from_u64(17);
    let walk =
        |sigma_per_s: f64| Normal::new(0.0, sigma_per_s * (interval_s as f64).sqrt()).unwrap();
    let (t_walk, h_walk) = (walk(0.002), walk(0.01));
    let (t_noise, h_noise) = (
        Normal::new(0.0, 0.03).unwrap(),
        Normal::new(0.0, 0.15).unwrap(),
    );
    let mut rooms: Vec<(f64, f64)> = (0..ROOMS)
        .map(|r| (19.5 + r as f64 * 0.4, 40.0 + r as f64))
        .collect();
    (0..ticks).flat_map(move |k| {
        let nominal = start + k * step;
        let mut out = Vec::with_capacity(ROOMS);
        for (room, (t, h)) in rooms.iter_mut().enumerate() {
            // Mean reversion keeps a long span within plausible bounds.
            *t += t_walk.sample(&mut rng) + (21.0 - *t) * 1e-4 * interval_s as f64;
            *h += h_walk.sample(&mut rng) + (45.0 - *h) * 1e-4 * interval_s as f64;
            let at = nominal + rng.random_range(0..=20);
            out.push(Reading {
                room,
                at,
                received_at: at + rng.random_range(50..=400),
                temperature: two_decimals(*t + t_noise.sample(&mut rng)),
                humidity: two_decimals((*h + h_noise.sample(&mut rng)).clamp(0.0, 100.0)),
            });
        }
        out
    })
}

fn two_decimals(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub fn room(i: usize) -> String {
    format!("room{:02}", i + 1)
}

/// The readings as a Clima CSV export (what `clima-server import` reads), each sample's time of
/// receipt kept.
pub fn write_csv(path: &Path, readings: impl Iterator<Item = Reading>) -> Result<u64> {
    let mut out = BufWriter::new(
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    writeln!(out, "sensor,metric,unit,measured_at,received_at,value")?;
    let mut rows = 0;
    for r in readings {
        let (at, received) = (format_rfc3339(r.at), format_rfc3339(r.received_at));
        let room = room(r.room);
        writeln!(
            out,
            "{room},temperature,°C,{at},{received},{:.2}",
            r.temperature
        )?;
        writeln!(out, "{room},humidity,%,{at},{received},{:.2}", r.humidity)?;
        rows += 2;
    }
    out.flush()?;
    Ok(rows)
}

/// The readings as line-protocol files of `batch` lines each (`000000.lp`, ...), times in ms.
pub fn write_line_protocol(
    dir: &Path,
    batch: usize,
    readings: impl Iterator<Item = Reading>,
) -> Result<u64> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (mut lines, mut file) = (0u64, None::<BufWriter<File>>);
    for r in readings {
        if lines % batch as u64 == 0 {
            if let Some(mut f) = file.take() {
                f.flush()?;
            }
            let path = dir.join(format!("{:06}.lp", lines / batch as u64));
            file =
                Some(BufWriter::new(File::create(&path).with_context(|| {
                    format!("cannot create {}", path.display())
                })?));
        }
        let f = file.as_mut().expect("opened above");
        writeln!(
            f,
            "climate,sensor={} temperature={:.2},humidity={:.2} {}",
            room(r.room),
            r.temperature,
            r.humidity,
            r.at
        )?;
        lines += 1;
    }
    if let Some(mut f) = file {
        f.flush()?;
    }
    Ok(lines * 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_jittered_two_decimal_and_repeatable() {
        let end = 1_795_683_600_000;
        let all: Vec<Reading> = readings(10, 1, end).collect();
        assert_eq!(all.len(), 8640 * ROOMS);
        for (i, r) in all.iter().enumerate() {
            let nominal = end - 86_400_000 + (i / ROOMS) as i64 * 10_000;
            assert!((nominal..=nominal + 20).contains(&r.at));
            assert!((50..=400).contains(&(r.received_at - r.at)));
            for v in [r.temperature, r.humidity] {
                assert_eq!(format!("{v:.2}").parse::<f64>().unwrap(), v);
            }
            assert!((5.0..40.0).contains(&r.temperature), "{}", r.temperature);
        }
        let again: Vec<f64> = readings(10, 1, end).map(|r| r.humidity).collect();
        assert_eq!(again, all.iter().map(|r| r.humidity).collect::<Vec<_>>());
    }
}

#[cfg(test)]
mod codec_sizes {
    use super::*;
    use clima_model::chunk::{encode, Sample};

    /// Bytes per value of the sealed hours of one day at each interval: near the data's entropy
    /// (about 18 bits: 8.5 for the receipt offset, 4.5 for the timer jitter, 5 for the value)
    /// where an hour holds many samples; pco's column headers weigh more in short hours.
    #[test]
    fn generated_hours_pack_near_their_entropy() {
        let end = 1_795_683_600_000;
        // Hours of the day's start, so that the test stays quick in a debug build.
        for (interval, hours, most) in [(1u64, 1, 2.45), (10, 4, 2.75), (60, 12, 3.6)] {
            let mut series: Vec<Vec<Sample>> = vec![Vec::new(); ROOMS * 2];
            let until = end - 86_400_000 + hours * 3_600_000;
            for r in readings(interval, 1, end).take_while(|r| r.at < until) {
                for (m, value) in [r.temperature, r.humidity].into_iter().enumerate() {
                    series[r.room * 2 + m].push(Sample {
                        at: r.at,
                        received_at: r.received_at,
                        value,
                    });
                }
            }
            let (mut bytes, mut n) = (0, 0);
            for s in &series {
                for hour in s.chunk_by(|a, b| a.at / 3_600_000 == b.at / 3_600_000) {
                    bytes += encode(hour).len();
                    n += hour.len();
                }
            }
            let per_value = bytes as f64 / n as f64;
            assert!(
                per_value <= most,
                "{interval} s: {per_value:.2} bytes a value"
            );
        }
    }
}
