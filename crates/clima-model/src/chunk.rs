//! Sealed chunks: a series' samples for one period packed into a few bytes each, losslessly.
//!
//! Values become integers at the chunk's decimal scale (the raw bits are kept for any value that
//! is not an exact decimal at that scale), receipt times become offsets from the measured times.
//! Version 2 compresses the three integer columns with `pco`, which finds each column's delta
//! order, common step and bins and codes them near their entropy (2-3.5 bytes a sample for
//! noisy two-decimal values with millisecond jitter in both times). Version 1 writes
//! delta-of-delta varints; it wins for a handful of samples, where pco's per-column headers
//! weigh more than the data, so `encode` keeps whichever is smaller and `decode` reads both.

use crate::Millis;

/// One stored sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: Millis,
    pub received_at: Millis,
    pub value: f64,
}

/// Why bytes are not a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk is cut short")]
    Truncated,
    #[error("chunk has unknown version {0}")]
    Version(u8),
    #[error("chunk is damaged: {0}")]
    Damaged(String),
}

const VERSION: u8 = 1;
const VERSION_PCO: u8 = 2;
/// Most samples in a version-2 chunk, so that a damaged count cannot make `decode` allocate
/// gigabytes (a series' hour at 1 kHz still fits; a larger run is written as version 1).
const MAX_PCO_SAMPLES: usize = 1 << 22;

/// Most decimal places tried for the decimal encoding.
pub(crate) const MAX_SCALE: u8 = 6;

/// Packs samples, sorted by `at` without repeats, in the smaller of the two versions.
pub fn encode(samples: &[Sample]) -> Vec<u8> {
    let plain = encode_quick(samples);
    if samples.is_empty() || samples.len() > MAX_PCO_SAMPLES {
        return plain;
    }
    // The step as a common multiple of the times helps when the jitter is small against it,
    // and costs its metadata otherwise: try both.
    let step = usual_step(samples);
    [0, step]
        .into_iter()
        .filter_map(|step| encode_pco(samples, step))
        .chain([plain])
        .min_by_key(Vec::len)
        .expect("the plain encoding is always there")
}

/// Version 2: count, scale, the values that are not exact at the scale (index and bits), then
/// the measured times (as multiples of `step` plus a remainder, unless it is 0), receipt
/// offsets and scaled values as three pco chunks.
fn encode_pco(samples: &[Sample], step: u64) -> Option<Vec<u8>> {
    let scale = decimal_scale(samples);
    let mut out = Vec::with_capacity(16 + samples.len() * 2);
    out.push(VERSION_PCO);
    put_uvar(&mut out, samples.len() as u64);
    out.push(scale);
    let (mut ints, mut raw) = (Vec::with_capacity(samples.len()), Vec::new());
    for (i, s) in samples.iter().enumerate() {
        match to_int(s.value, scale) {
            Some(n) => ints.push(n),
            None => {
                // The column stays smooth: an inexact value repeats its predecessor.
                ints.push(ints.last().copied().unwrap_or(0));
                raw.push((i, s.value.to_bits()));
            }
        }
    }
    put_uvar(&mut out, raw.len() as u64);
    let mut last = 0;
    for (i, bits) in raw {
        put_uvar(&mut out, (i - last) as u64);
        out.extend_from_slice(&bits.to_le_bytes());
        last = i;
    }
    let at: Vec<i64> = samples.iter().map(|s| s.at).collect();
    let offset: Vec<i64> = samples
        .iter()
        .map(|s| s.received_at.wrapping_sub(s.at))
        .collect();
    let files = pco::wrapped::FileCompressor::default();
    let mut out = files.write_header(out).ok()?;
    for (i, column) in [&at, &offset, &ints].into_iter().enumerate() {
        let mut config = pco_config();
        if i == 0 && step > 1 {
            config = config.with_mode_spec(pco::ModeSpec::TryIntMult(step));
        }
        let mut chunk = files.chunk_compressor(column, &config).ok()?;
        out = chunk.write_meta(out).ok()?;
        for page in 0..chunk.n_per_page().len() {
            out = chunk.write_page(page, out).ok()?;
        }
    }
    Some(out)
}

/// The series' nominal interval: the median gap between samples, rounded to whole seconds
/// (to 10 ms below a second), or 0 when there is none.
fn usual_step(samples: &[Sample]) -> u64 {
    let mut gaps: Vec<i64> = samples
        .windows(2)
        .map(|w| w[1].at.wrapping_sub(w[0].at))
        .collect();
    if gaps.is_empty() {
        return 0;
    }
    let mid = gaps.len() / 2;
    let median = *gaps.select_nth_unstable(mid).1;
    let unit = if median >= 1000 { 1000 } else { 10 };
    (median.saturating_add(unit / 2) / unit * unit).max(0) as u64
}

/// The same configuration on both sides: the decoder needs the page sizes.
fn pco_config() -> pco::ChunkConfig {
    pco::ChunkConfig::default()
}

/// Unpacks a version-2 chunk after its version byte.
fn decode_pco(r: &mut Cursor) -> Result<Vec<Sample>, ChunkError> {
    let count = r.uvar()? as usize;
    if count == 0 || count > MAX_PCO_SAMPLES {
        return Err(ChunkError::Damaged(format!("{count} samples")));
    }
    let scale = r.byte()?.min(MAX_SCALE);
    let n_raw = r.uvar()? as usize;
    // Each inexact value takes at least nine bytes.
    if n_raw > count || n_raw > r.data.len() / 9 {
        return Err(ChunkError::Truncated);
    }
    let mut raw = Vec::with_capacity(n_raw);
    let mut index = 0usize;
    for _ in 0..n_raw {
        index = index.saturating_add(r.uvar()? as usize);
        let mut bits = [0u8; 8];
        for b in &mut bits {
            *b = r.byte()?;
        }
        if index >= count {
            return Err(ChunkError::Damaged("value index past the end".into()));
        }
        raw.push((index, f64::from_bits(u64::from_le_bytes(bits))));
    }
    let damaged = |e: pco::errors::PcoError| match e.kind {
        pco::errors::ErrorKind::InsufficientData => ChunkError::Truncated,
        _ => ChunkError::Damaged(e.to_string()),
    };
    let pages = pco_config()
        .paging_spec
        .n_per_page(count)
        .map_err(damaged)?;
    let (files, mut src) =
        pco::wrapped::FileDecompressor::new(&r.data[r.pos..]).map_err(damaged)?;
    let mut columns = [vec![0i64; count], vec![0i64; count], vec![0i64; count]];
    for column in &mut columns {
        let (mut chunk, rest) = files.chunk_decompressor::<i64, _>(src).map_err(damaged)?;
        src = rest;
        let mut start = 0;
        for &n in &pages {
            let mut page = chunk.page_decompressor(src, n).map_err(damaged)?;
            let progress = page.read(&mut column[start..start + n]).map_err(damaged)?;
            if progress.n_processed != n || !progress.finished {
                return Err(ChunkError::Truncated);
            }
            src = page.into_src();
            start += n;
        }
    }
    let [at, offset, ints] = columns;
    let divisor = 10f64.powi(i32::from(scale));
    let mut out: Vec<Sample> = (0..count)
        .map(|i| Sample {
            at: at[i],
            received_at: at[i].wrapping_add(offset[i]),
            value: ints[i] as f64 / divisor,
        })
        .collect();
    for (i, value) in raw {
        out[i].value = value;
    }
    Ok(out)
}

/// Packs samples in version 1 (delta-of-delta times and receipt offsets, values as integer
/// deltas, as varints): several times faster than [`encode`], for pieces, which are sealed into
/// chunks within hours.
pub fn encode_quick(samples: &[Sample]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + samples.len() * 3);
    out.push(VERSION);
    put_uvar(&mut out, samples.len() as u64);
    let scale = decimal_scale(samples);
    out.push(scale);
    let (mut at, mut at_delta, mut offset, mut offset_delta, mut int) =
        (0i64, 0i64, 0i64, 0i64, 0i64);
    for s in samples {
        let d = s.at.wrapping_sub(at);
        put_ivar(&mut out, d.wrapping_sub(at_delta));
        (at, at_delta) = (s.at, d);
        let o = s.received_at.wrapping_sub(s.at);
        let od = o.wrapping_sub(offset);
        put_ivar(&mut out, od.wrapping_sub(offset_delta));
        (offset, offset_delta) = (o, od);
        // A value is an even header (the integer delta, zigzagged and shifted) or 1 and its bits.
        match to_int(s.value, scale) {
            Some(n) => {
                put_uvar(&mut out, zigzag(n.wrapping_sub(int)) << 1);
                int = n;
            }
            None => {
                out.push(1);
                out.extend_from_slice(&s.value.to_bits().to_le_bytes());
            }
        }
    }
    out
}

/// Unpacks what [`encode`] packed.
pub fn decode(data: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let mut r = Cursor { data, pos: 0 };
    match r.byte()? {
        VERSION => decode_varint(&mut r),
        VERSION_PCO => decode_pco(&mut r),
        version => Err(ChunkError::Version(version)),
    }
}

fn decode_varint(r: &mut Cursor) -> Result<Vec<Sample>, ChunkError> {
    let data = r.data;
    let count = r.uvar()? as usize;
    let scale = r.byte()?.min(MAX_SCALE);
    // A corrupt count must not make us reserve gigabytes: each sample takes at least 3 bytes.
    let mut out = Vec::with_capacity(count.min(data.len() / 3 + 1));
    let (mut at, mut at_delta, mut offset, mut offset_delta, mut int) =
        (0i64, 0i64, 0i64, 0i64, 0i64);
    for _ in 0..count {
        at_delta = at_delta.wrapping_add(r.ivar()?);
        at = at.wrapping_add(at_delta);
        offset_delta = offset_delta.wrapping_add(r.ivar()?);
        offset = offset.wrapping_add(offset_delta);
        let header = r.uvar()?;
        let value = if header == 1 {
            let mut bits = [0u8; 8];
            for b in &mut bits {
                *b = r.byte()?;
            }
            f64::from_bits(u64::from_le_bytes(bits))
        } else {
            int = int.wrapping_add(unzigzag(header >> 1));
            int as f64 / 10f64.powi(i32::from(scale))
        };
        out.push(Sample {
            at,
            received_at: at.wrapping_add(offset),
            value,
        });
    }
    Ok(out)
}

/// The decimal places that represent the most values exactly (the fewest, among equals).
fn decimal_scale(samples: &[Sample]) -> u8 {
    best_scale(samples.iter().map(|s| s.value))
}

/// The decimal places that represent the most of `values` exactly (the fewest, among equals).
pub(crate) fn best_scale(values: impl Iterator<Item = f64> + Clone) -> u8 {
    let all = values.clone().count();
    let exact = |k: u8| values.clone().filter(|v| to_int(*v, k).is_some()).count();
    // The smallest scale that fits the most values; one that fits them all ends the search.
    let mut best = (0, 0);
    for k in 0..=MAX_SCALE {
        let n = exact(k);
        if n == all {
            return k;
        }
        if n > best.0 {
            best = (n, k);
        }
    }
    best.1
}

/// `v * 10^k` as an integer, if dividing it back gives `v` to the bit.
pub(crate) fn to_int(v: f64, k: u8) -> Option<i64> {
    let scaled = (v * 10f64.powi(i32::from(k))).round();
    if !scaled.is_finite() || scaled.abs() >= 2f64.powi(53) {
        return None;
    }
    let n = scaled as i64;
    ((n as f64 / 10f64.powi(i32::from(k))).to_bits() == v.to_bits()).then_some(n)
}

pub(crate) fn put_uvar(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(u: u64) -> i64 {
    (u >> 1) as i64 ^ -((u & 1) as i64)
}

pub(crate) fn put_ivar(out: &mut Vec<u8>, v: i64) {
    put_uvar(out, zigzag(v));
}

pub(crate) struct Cursor<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
}

impl Cursor<'_> {
    pub(crate) fn byte(&mut self) -> Result<u8, ChunkError> {
        let b = *self.data.get(self.pos).ok_or(ChunkError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn uvar(&mut self) -> Result<u64, ChunkError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ChunkError::Truncated)
    }

    pub(crate) fn ivar(&mut self) -> Result<i64, ChunkError> {
        Ok(unzigzag(self.uvar()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_the_fewest_places_that_fit_the_most_values() {
        let of = |values: &[f64]| {
            let samples: Vec<Sample> = values
                .iter()
                .map(|&value| Sample {
                    at: 0,
                    received_at: 0,
                    value,
                })
                .collect();
            decimal_scale(&samples)
        };
        assert_eq!(of(&[]), 0);
        assert_eq!(of(&[20.0, -3.0]), 0);
        assert_eq!(of(&[20.5, 21.25, 19.0]), 2);
        // 0.1 + 0.2 is exact at no scale: the scale fits the others.
        assert_eq!(of(&[0.1 + 0.2, 1.5, 2.5]), 1);
        assert_eq!(
            of(&[0.1 + 0.2, 0.1 + 0.2]),
            0,
            "none fit: the fewest places"
        );
    }

    /// Checks every encoding reads back bit for bit; returns the size `encode` chose.
    fn roundtrip(samples: &[Sample]) -> usize {
        let chosen = encode(samples);
        let mut all = vec![chosen.clone(), encode_quick(samples)];
        if !samples.is_empty() {
            all.extend(encode_pco(samples, 0));
            all.extend(encode_pco(samples, usual_step(samples)));
        }
        for data in all {
            let back = decode(&data).unwrap();
            assert_eq!(back.len(), samples.len());
            for (a, b) in back.iter().zip(samples) {
                assert_eq!(
                    (a.at, a.received_at, a.value.to_bits()),
                    (b.at, b.received_at, b.value.to_bits())
                );
            }
        }
        chosen.len()
    }

    #[test]
    fn noisy_jittered_hour_takes_pco_and_under_three_bytes_a_sample() {
        // 10 s ticks with 0-20 ms of timer jitter, receipt 50-400 ms later, two-decimal noise.
        let t0 = 1_795_683_600_000;
        let mut x = 0x9E3779B97F4A7C15u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m) as i64
        };
        let mut walk = 2150;
        let samples: Vec<Sample> = (0..360)
            .map(|i| {
                let at = t0 + i * 10_000 + next(21);
                walk += next(3) - 1;
                Sample {
                    at,
                    received_at: at + 50 + next(351),
                    value: (walk + next(13) - 6) as f64 / 100.0,
                }
            })
            .collect();
        let bytes = roundtrip(&samples);
        assert_eq!(encode(&samples)[0], VERSION_PCO);
        assert!(bytes < 360 * 3, "{bytes} bytes for 360 samples");
        let v1 = encode_quick(&samples).len();
        assert!(
            bytes * 4 < v1 * 3,
            "{bytes} bytes against {v1} in version 1"
        );
    }

    #[test]
    fn usual_step_is_the_median_gap_rounded() {
        let of = |at: &[i64]| {
            let samples: Vec<Sample> = at
                .iter()
                .map(|&at| Sample {
                    at,
                    received_at: at,
                    value: 0.0,
                })
                .collect();
            usual_step(&samples)
        };
        assert_eq!(of(&[]), 0);
        assert_eq!(of(&[5]), 0);
        assert_eq!(of(&[0, 10_013, 19_998, 30_004, 90_000]), 10_000);
        assert_eq!(of(&[0, 97, 203, 301]), 100);
        assert_eq!(of(&[i64::MIN, i64::MAX]), 0, "a wrapped gap is no step");
    }

    #[test]
    fn typical_sensor_hour_is_a_few_bytes_a_sample() {
        let t0 = 1_795_683_600_000;
        let samples: Vec<Sample> = (0..3600)
            .map(|i| {
                let value: f64 = format!("{:.2}", 21.0 + (i as f64 / 300.0).sin())
                    .parse()
                    .unwrap();
                Sample {
                    at: t0 + i * 1000,
                    received_at: t0 + i * 1000 + 120 + i % 3,
                    value,
                }
            })
            .collect();
        let bytes = roundtrip(&samples);
        assert!(bytes < 3600 * 4, "{bytes} bytes for 3600 samples");
    }

    #[test]
    fn exact_for_any_value() {
        let t0 = 1_795_683_600_000;
        let odd = [
            f64::MIN_POSITIVE,
            -0.0,
            1e300,
            (70.1 - 32.0) * 5.0 / 9.0,
            0.1 + 0.2,
            -40.000001,
            1234567.891,
        ];
        let samples: Vec<Sample> = odd
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                at: t0 + i as i64 * 7,
                received_at: t0 - 5,
                value: *v,
            })
            .collect();
        roundtrip(&samples);
        roundtrip(&[]);
        roundtrip(&[Sample {
            at: i64::MIN / 2,
            received_at: i64::MAX / 2,
            value: 3.0,
        }]);
        // Irregular timing and a pseudo-random walk.
        let mut x = 0x2545F4914F6CDD1Du64;
        let mut at = t0;
        let samples: Vec<Sample> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                at += 1 + (x % 5000) as i64;
                Sample {
                    at,
                    received_at: at + (x % 100) as i64,
                    value: f64::from_bits(x >> 2),
                }
            })
            .filter(|s| s.value.is_finite())
            .collect();
        roundtrip(&samples);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode(&[]), Err(ChunkError::Truncated));
        assert_eq!(decode(&[9]), Err(ChunkError::Version(9)));
        assert_eq!(decode(&[VERSION, 5, 2, 1]), Err(ChunkError::Truncated));
        assert_eq!(
            decode(&[VERSION, 1, 2, 0, 0, 1, 7]),
            Err(ChunkError::Truncated),
            "raw value cut short"
        );
        let mut data = encode(&[Sample {
            at: 1,
            received_at: 2,
            value: 3.5,
        }]);
        data.truncate(data.len() - 1);
        assert!(decode(&data).is_err());
        let huge = [VERSION, 0xff, 0xff, 0xff, 0xff, 0x0f, 2];
        assert!(decode(&huge).is_err());
        let huge = [VERSION_PCO, 0xff, 0xff, 0xff, 0xff, 0x0f, 2, 0];
        assert!(matches!(decode(&huge), Err(ChunkError::Damaged(_))));
        let samples: Vec<Sample> = (0..100)
            .map(|i| Sample {
                at: i * 1000 + i % 7,
                received_at: i * 1000 + 300 - i % 11,
                value: 20.0 + (i % 13) as f64 / 100.0,
            })
            .collect();
        let data = encode(&samples);
        assert_eq!(data[0], VERSION_PCO);
        for cut in 1..data.len() {
            assert!(decode(&data[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = data.clone();
        for i in 3..flipped.len() {
            flipped[i] ^= 0x5a;
            let _ = decode(&flipped);
        }
    }
}
