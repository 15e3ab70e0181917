//! Figures from raw samples: nearest-rank percentiles over latencies in microseconds.

use std::time::Duration;

/// Latency percentiles of one run, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    pub count: usize,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Latency {
    /// Sorts `micros` in place and takes the percentiles.
    pub fn of(micros: &mut [u64]) -> Latency {
        micros.sort_unstable();
        Latency {
            count: micros.len(),
            p50: percentile(micros, 50.0),
            p90: percentile(micros, 90.0),
            p99: percentile(micros, 99.0),
            max: micros.last().copied().unwrap_or(0),
        }
    }
}

/// Nearest-rank percentile of sorted samples; 0 for none.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// Milliseconds with three decimals, for printing microseconds.
pub fn ms(micros: u64) -> String {
    format!("{:.3}", micros as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let l = Latency::of(&mut v);
        assert_eq!(
            (l.count, l.p50, l.p90, l.p99, l.max),
            (100, 50, 90, 99, 100)
        );
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[1, 2], 50.0), 1);
        assert_eq!(percentile(&[1, 2], 51.0), 2);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(Latency::of(&mut []), Latency::default());
        assert_eq!(ms(1500), "1.500");
    }
}
