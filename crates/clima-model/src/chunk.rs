//! Sealed chunks: a series' samples for one period packed into a few bytes each, losslessly:
//! delta-of-delta times and receipt offsets, and values as integer deltas at the chunk's decimal
//! scale, with the raw bits for any value that is not an exact decimal at that scale.

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
}

const VERSION: u8 = 1;
/// Most decimal places tried for the decimal encoding.
const MAX_SCALE: u8 = 6;

/// Packs samples, sorted by `at` without repeats.
pub fn encode(samples: &[Sample]) -> Vec<u8> {
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
    let version = r.byte()?;
    if version != VERSION {
        return Err(ChunkError::Version(version));
    }
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
    let exact = |k: u8| {
        samples
            .iter()
            .filter(|s| to_int(s.value, k).is_some())
            .count()
    };
    // The smallest scale that fits the most values; one that fits them all ends the search.
    let mut best = (0, 0);
    for k in 0..=MAX_SCALE {
        let n = exact(k);
        if n == samples.len() {
            return k;
        }
        if n > best.0 {
            best = (n, k);
        }
    }
    best.1
}

/// `v * 10^k` as an integer, if dividing it back gives `v` to the bit.
fn to_int(v: f64, k: u8) -> Option<i64> {
    let scaled = (v * 10f64.powi(i32::from(k))).round();
    if !scaled.is_finite() || scaled.abs() >= 2f64.powi(53) {
        return None;
    }
    let n = scaled as i64;
    ((n as f64 / 10f64.powi(i32::from(k))).to_bits() == v.to_bits()).then_some(n)
}

fn put_uvar(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    (u >> 1) as i64 ^ -((u & 1) as i64)
}

fn put_ivar(out: &mut Vec<u8>, v: i64) {
    put_uvar(out, zigzag(v));
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Result<u8, ChunkError> {
        let b = *self.data.get(self.pos).ok_or(ChunkError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn uvar(&mut self) -> Result<u64, ChunkError> {
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

    fn ivar(&mut self) -> Result<i64, ChunkError> {
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

    fn roundtrip(samples: &[Sample]) -> usize {
        let data = encode(samples);
        let back = decode(&data).unwrap();
        assert_eq!(back.len(), samples.len());
        for (a, b) in back.iter().zip(samples) {
            assert_eq!(
                (a.at, a.received_at, a.value.to_bits()),
                (b.at, b.received_at, b.value.to_bits())
            );
        }
        data.len()
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
    }
}
