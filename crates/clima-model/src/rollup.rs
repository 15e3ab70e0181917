//! Rollups packed in blobs: which hours get minute rollups, the exact per-minute aggregates, and
//! the lossless encoding of a run of periods (a series' minutes of one hour, or its hours of one
//! day).
//!
//! A minute rollup saves work at query time only where a minute holds many samples: a chart of
//! minute-wide buckets reads one entry instead of decoding every sample of the minute. For a
//! sensor reporting every 10 s or slower, an entry would cost about half of what the samples it
//! sums cost in a chunk, to save decoding six of them or fewer, so such hours get none and
//! queries read their chunks. [`keeps_minutes`] decides per hour, from the interval the hour's
//! samples show, so a series whose interval changes is summed exactly either way.
//!
//! The encoding follows the chunks' version 1: start minutes and counts as varint deltas, and
//! min, max and sum as integers at one decimal scale (varint deltas), with the raw bits kept for
//! any value that is not an exact decimal at that scale.

use crate::chunk::{
    best_scale, put_ivar, put_uvar, to_int, unzigzag, zigzag, ChunkError, Cursor, Sample, MAX_SCALE,
};
use crate::downsample::Partial;
use crate::{Millis, MINUTE};

/// One minute's or one hour's aggregate of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// Start of the period, unix ms (a multiple of [`MINUTE`]).
    pub start: Millis,
    pub partial: Partial,
}

/// Fewest samples a minute holding any must average for its hour to get minute rollups: a
/// sensor reporting every 6 s or faster.
pub const MINUTE_LEVEL_SAMPLES: u64 = 10;

const VERSION: u8 = 1;
/// Fewest bytes one encoded period takes (two deltas and three values).
const MIN_MINUTE_BYTES: usize = 5;
/// Below 2^53, every integer is an exact f64.
const EXACT_INT: i64 = 1 << 53;

/// Whether an hour whose samples sum to `minutes` gets minute rollups: when its minutes average
/// at least [`MINUTE_LEVEL_SAMPLES`] samples each.
pub fn keeps_minutes(minutes: &[Period]) -> bool {
    let count: u64 = minutes.iter().map(|m| m.partial.count).sum();
    !minutes.is_empty() && count >= MINUTE_LEVEL_SAMPLES * minutes.len() as u64
}

/// Sums samples, in time order, per minute. Where every value of a minute is a decimal of at
/// most six places, its sum is the exact decimal sum (rounded once), not a running f64 sum.
pub fn minutes(samples: &[Sample]) -> Vec<Period> {
    samples
        .chunk_by(|a, b| a.at.div_euclid(MINUTE) == b.at.div_euclid(MINUTE))
        .map(|run| {
            let mut partial = Partial::of(run[0].value);
            for s in &run[1..] {
                partial.merge(&Partial::of(s.value));
            }
            partial.sum = sum_of(run.iter().map(|s| s.value));
            Period {
                start: run[0].at.div_euclid(MINUTE) * MINUTE,
                partial,
            }
        })
        .collect()
}

/// Merges two lists of periods in time order, adding up periods present in both.
pub fn merge(a: &[Period], b: &[Period]) -> Vec<Period> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].start.cmp(&b[j].start) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (a[i].partial, b[j].partial);
                out.push(Period {
                    start: a[i].start,
                    partial: Partial {
                        sum: add_sums(x.sum, y.sum),
                        min: x.min.min(y.min),
                        max: x.max.max(y.max),
                        count: x.count + y.count,
                    },
                });
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The sum of `values`: exact at the fewest decimal places that fit them all, else in f64.
fn sum_of(values: impl Iterator<Item = f64> + Clone) -> f64 {
    'scale: for k in 0..=MAX_SCALE {
        let mut total = 0i64;
        for v in values.clone() {
            match to_int(v, k).and_then(|n| total.checked_add(n)) {
                Some(t) if t.abs() < EXACT_INT => total = t,
                _ => continue 'scale,
            }
        }
        return total as f64 / 10f64.powi(i32::from(k));
    }
    values.sum()
}

/// `a + b`, exact when both are decimals of at most six places.
fn add_sums(a: f64, b: f64) -> f64 {
    sum_of([a, b].into_iter())
}

/// Packs periods, sorted by start without repeats.
pub fn encode(minutes: &[Period]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + minutes.len() * 6);
    out.push(VERSION);
    put_uvar(&mut out, minutes.len() as u64);
    let scale = best_scale(
        minutes
            .iter()
            .flat_map(|m| [m.partial.min, m.partial.max, m.partial.sum]),
    );
    out.push(scale);
    let (mut minute, mut count, mut ints) = (0i64, 0i64, [0i64; 3]);
    for m in minutes {
        let n = m.start.div_euclid(MINUTE);
        put_ivar(&mut out, n.wrapping_sub(minute));
        minute = n;
        let c = m.partial.count as i64;
        put_ivar(&mut out, c.wrapping_sub(count));
        count = c;
        let values = [m.partial.min, m.partial.max, m.partial.sum];
        for (v, int) in values.into_iter().zip(&mut ints) {
            // An even header (the integer delta, zigzagged and shifted) or 1 and the bits.
            match to_int(v, scale) {
                Some(n) => {
                    put_uvar(&mut out, zigzag(n.wrapping_sub(*int)) << 1);
                    *int = n;
                }
                None => {
                    out.push(1);
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
        }
    }
    out
}

/// Unpacks what [`encode`] packed.
pub fn decode(data: &[u8]) -> Result<Vec<Period>, ChunkError> {
    let mut r = Cursor { data, pos: 0 };
    match r.byte()? {
        VERSION => {}
        version => return Err(ChunkError::Version(version)),
    }
    let n = r.uvar()?;
    // A corrupt count must not make us reserve gigabytes.
    if n > (data.len() / MIN_MINUTE_BYTES) as u64 {
        return Err(ChunkError::Truncated);
    }
    let scale = r.byte()?.min(MAX_SCALE);
    let divisor = 10f64.powi(i32::from(scale));
    let mut out = Vec::with_capacity(n as usize);
    let (mut minute, mut count, mut ints) = (0i64, 0i64, [0i64; 3]);
    for _ in 0..n {
        minute = minute.wrapping_add(r.ivar()?);
        let start = minute
            .checked_mul(MINUTE)
            .ok_or_else(|| ChunkError::Damaged(format!("minute {minute} is past any time")))?;
        count = count.wrapping_add(r.ivar()?);
        let mut values = [0f64; 3];
        for (v, int) in values.iter_mut().zip(&mut ints) {
            let header = r.uvar()?;
            *v = if header == 1 {
                let mut bits = [0u8; 8];
                for b in &mut bits {
                    *b = r.byte()?;
                }
                f64::from_bits(u64::from_le_bytes(bits))
            } else {
                *int = int.wrapping_add(unzigzag(header >> 1));
                *int as f64 / divisor
            };
        }
        let [min, max, sum] = values;
        out.push(Period {
            start,
            partial: Partial {
                sum,
                min,
                max,
                count: count as u64,
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_795_683_600_000;

    /// A noisy two-decimal series every `interval_ms` over one hour, with timer jitter.
    fn hour(interval_ms: i64) -> Vec<Sample> {
        let mut x = 0x9E3779B97F4A7C15u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m) as i64
        };
        let mut walk = 2150;
        (0..crate::HOUR / interval_ms)
            .map(|i| {
                let at = T0 + i * interval_ms + next(21);
                walk += next(3) - 1;
                Sample {
                    at,
                    received_at: at + 50 + next(351),
                    value: (walk + next(13) - 6) as f64 / 100.0,
                }
            })
            .collect()
    }

    fn bits(minutes: &[Period]) -> Vec<(Millis, u64, u64, u64, u64)> {
        minutes
            .iter()
            .map(|m| {
                let p = m.partial;
                (
                    m.start,
                    p.sum.to_bits(),
                    p.min.to_bits(),
                    p.max.to_bits(),
                    p.count,
                )
            })
            .collect()
    }

    /// Checks the minutes read back bit for bit; returns the encoded size.
    fn roundtrip(minutes: &[Period]) -> usize {
        let data = encode(minutes);
        assert_eq!(bits(&decode(&data).unwrap()), bits(minutes));
        data.len()
    }

    #[test]
    fn the_level_follows_the_hours_interval() {
        let check = |interval_ms: i64, want: bool| {
            assert_eq!(
                keeps_minutes(&minutes(&hour(interval_ms))),
                want,
                "{interval_ms} ms"
            );
        };
        check(1_000, true);
        check(5_000, true);
        check(6_000, true);
        check(10_000, false);
        check(60_000, false);
        check(300_000, false);
        assert!(!keeps_minutes(&[]));
        // A 1 s sensor that reported for ten minutes of the hour still averages 60 a minute.
        assert!(keeps_minutes(&minutes(&hour(1_000)[..600])));
    }

    #[test]
    fn minutes_sum_min_max_and_count_each_minute_exactly() {
        let at = |s: i64, value: f64| Sample {
            at: T0 + s * 1000,
            received_at: T0,
            value,
        };
        let got = minutes(&[
            at(0, 0.1),
            at(30, 0.2),
            at(59, -1.5),
            at(60, 20.25),
            at(185, 0.1 + 0.2),
            at(186, 1.0),
        ]);
        let want = [
            (T0, 0.1 + 0.2 - 1.5, -1.5, 0.2, 3),
            (T0 + MINUTE, 20.25, 20.25, 20.25, 1),
            (T0 + 3 * MINUTE, 0.1 + 0.2 + 1.0, 0.1 + 0.2, 1.0, 2),
        ];
        assert_eq!(got.len(), want.len());
        for (g, (start, sum, min, max, count)) in got.iter().zip(want) {
            assert_eq!(
                (g.start, g.partial.min, g.partial.max, g.partial.count),
                (start, min, max, count)
            );
            assert!((g.partial.sum - sum).abs() < 1e-12, "{g:?}");
        }
        // Decimals add up exactly: 0.1 + 0.2 - 1.5 is -1.2, not -1.2000000000000002.
        assert_eq!(got[0].partial.sum, -1.2);
        // 0.1 + 0.2 is a decimal at no scale: that minute is summed in f64.
        assert_eq!(got[2].partial.sum, 0.1 + 0.2 + 1.0);
    }

    #[test]
    fn merging_parts_gives_the_minutes_of_the_whole() {
        let all = hour(1_000);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, s) in all.iter().enumerate() {
            let side = if i % 3 == 0 { &mut a } else { &mut b };
            side.push(*s);
        }
        assert_eq!(
            bits(&merge(&minutes(&a), &minutes(&b))),
            bits(&minutes(&all))
        );
        assert_eq!(bits(&merge(&minutes(&all), &[])), bits(&minutes(&all)));
        assert_eq!(bits(&merge(&[], &minutes(&a))), bits(&minutes(&a)));
    }

    #[test]
    fn a_one_second_hour_packs_into_a_few_bytes_a_minute() {
        let m = minutes(&hour(1_000));
        assert_eq!(m.len(), 60);
        let bytes = roundtrip(&m);
        assert!(bytes < 60 * 8, "{bytes} bytes for 60 minutes");
    }

    #[test]
    fn exact_for_any_minute() {
        let odd = [
            f64::MIN_POSITIVE,
            -0.0,
            1e300,
            (70.1 - 32.0) * 5.0 / 9.0,
            0.1 + 0.2,
            -40.000001,
            1234567.891,
            f64::NAN,
        ];
        let mut all: Vec<Period> = odd
            .iter()
            .enumerate()
            .map(|(i, &v)| Period {
                start: T0 - 7 * MINUTE + i as i64 * 3 * MINUTE,
                partial: Partial {
                    sum: v,
                    min: -v,
                    max: v * 2.0,
                    count: [1, 0, u64::MAX, 7][i % 4],
                },
            })
            .collect();
        roundtrip(&all);
        roundtrip(&[]);
        all.truncate(1);
        all[0].start = i64::MIN / MINUTE * MINUTE;
        roundtrip(&all);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode(&[]), Err(ChunkError::Truncated));
        assert_eq!(decode(&[9]), Err(ChunkError::Version(9)));
        assert_eq!(
            decode(&[VERSION, 0xff, 0xff, 0xff, 0x0f, 2]),
            Err(ChunkError::Truncated)
        );
        let data = encode(&minutes(&hour(1_000)));
        for cut in 1..data.len() {
            assert!(decode(&data[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = data.clone();
        for i in 1..flipped.len() {
            flipped[i] ^= 0x5a;
            let _ = decode(&flipped);
        }
        // A minute number whose time does not fit in milliseconds.
        let mut far = vec![VERSION, 1, 2];
        put_ivar(&mut far, i64::MAX / 2);
        far.extend([0, 0, 0, 0]);
        assert!(matches!(decode(&far), Err(ChunkError::Damaged(_))));
    }
}
