//! The sealed-chunk codec. Arbitrary bytes decode to samples or an error, never a panic or a
//! huge allocation; any samples, whether decoded from fuzz bytes or built from them, encode and
//! decode back to the same samples, bit for bit.
//!
//! Input: the first byte picks the mode (even: the rest is a chunk to decode; odd: the rest is
//! 24-byte samples to encode).
#![no_main]

use clima_model::chunk::{decode, encode, Sample};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok(samples) = decode(rest) {
            // A version-1 sample takes at least three bytes (version 2 caps its count instead).
            if rest[0] == 1 {
                assert!(samples.len() <= rest.len() / 3, "{} samples", samples.len());
            }
            round_trip(&samples);
        }
    } else {
        let samples: Vec<Sample> = rest
            .chunks_exact(24)
            .map(|b| {
                let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
                Sample {
                    at: word(0) as i64,
                    received_at: word(8) as i64,
                    value: f64::from_bits(word(16)),
                }
            })
            .collect();
        round_trip(&samples);
        // Sorted, as the store seals them.
        let mut sorted = samples;
        sorted.sort_by_key(|s| s.at);
        sorted.dedup_by_key(|s| s.at);
        round_trip(&sorted);
    }
});

fn round_trip(samples: &[Sample]) {
    let data = encode(samples);
    let back = decode(&data).unwrap_or_else(|e| panic!("own encoding refused: {e}"));
    let bits = |s: &[Sample]| -> Vec<(i64, i64, u64)> {
        s.iter()
            .map(|s| (s.at, s.received_at, s.value.to_bits()))
            .collect()
    };
    assert_eq!(bits(&back), bits(samples), "chunk round trip");
}
