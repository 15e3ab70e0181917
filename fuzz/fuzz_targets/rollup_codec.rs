//! The minute-rollup codec. Arbitrary bytes decode to minutes or an error, never a panic or a
//! huge allocation; any minutes, whether decoded from fuzz bytes or built from them, encode and
//! decode back to the same minutes, bit for bit. Merging keeps every minute and every count.
//!
//! Input: the first byte picks the mode (even: the rest is a blob to decode; odd: the rest is
//! 40-byte minutes to encode).
#![no_main]

use clima_model::downsample::Partial;
use clima_model::rollup::{decode, encode, merge, Period};
use clima_model::MINUTE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok(minutes) = decode(rest) {
            // A minute takes at least five bytes.
            assert!(minutes.len() <= rest.len() / 5, "{} minutes", minutes.len());
            round_trip(&minutes);
        }
    } else {
        let mut minutes: Vec<Period> = rest
            .chunks_exact(40)
            .map(|b| {
                let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
                Period {
                    // Truncated toward zero, so that no start overflows.
                    start: (word(0) as i64) / MINUTE * MINUTE,
                    partial: Partial {
                        sum: f64::from_bits(word(8)),
                        min: f64::from_bits(word(16)),
                        max: f64::from_bits(word(24)),
                        count: word(32) >> 8,
                    },
                }
            })
            .collect();
        round_trip(&minutes);
        // Sorted, as the store keeps them, then merged with themselves.
        minutes.sort_by_key(|m| m.start);
        minutes.dedup_by_key(|m| m.start);
        round_trip(&minutes);
        let twice = merge(&minutes, &minutes);
        assert_eq!(twice.len(), minutes.len());
        for (a, b) in twice.iter().zip(&minutes) {
            assert_eq!((a.start, a.partial.count), (b.start, b.partial.count * 2));
        }
    }
});

fn round_trip(minutes: &[Period]) {
    let data = encode(minutes);
    let back = decode(&data).unwrap_or_else(|e| panic!("own encoding refused: {e}"));
    let bits = |m: &[Period]| -> Vec<(i64, u64, u64, u64, u64)> {
        m.iter()
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
    };
    assert_eq!(bits(&back), bits(minutes), "rollup round trip");
}
