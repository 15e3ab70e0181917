//! InfluxDB line protocol as `POST /write` takes it (UTF-8 text), at every precision. Each
//! line that is not blank or a comment gets exactly one result, numbered by its line; each
//! accepted reading is storable and comes back the same when written out again.
#![no_main]

use clima_fuzz::{assert_same, check_reading, check_rejected, NOW};
use clima_model::line_protocol::{parse, Precision};
use clima_model::Reading;
use libfuzzer_sys::fuzz_target;

const PRECISIONS: [&str; 6] = ["ns", "us", "ms", "s", "m", "h"];

fuzz_target!(|data: &[u8]| {
    // The route refuses bodies that are not UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let numbers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim().starts_with('#'))
        .map(|(i, _)| i + 1)
        .collect();
    for p in PRECISIONS {
        let items = parse(text, Precision::parse(p).unwrap(), NOW);
        assert_eq!(items.len(), numbers.len(), "one result per line ({p})");
        for (item, number) in items.iter().zip(&numbers) {
            match item {
                Ok(r) => {
                    check_reading(r, NOW);
                    round_trip(r);
                }
                Err(rejected) => {
                    assert_eq!(rejected.index, *number, "line number ({p})");
                    check_rejected(rejected);
                }
            }
        }
    }
});

/// Writes `r` as one line, millisecond precision, with the sensor and name as tags.
fn round_trip(r: &Reading) {
    let mut line = format!("clima,sensor={}", r.sensor);
    if let Some(name) = &r.name {
        line.push_str(",name=");
        for c in name.chars() {
            if matches!(c, ',' | '=' | ' ' | '\\' | '"') {
                line.push('\\');
            }
            line.push(c);
        }
    }
    let fields: Vec<String> = r.values.iter().map(|(m, v)| format!("{m}={v:?}")).collect();
    line = format!("{line} {}", fields.join(","));
    if let Some(t) = r.measured_at {
        line = format!("{line} {t}");
    }
    let mut back = parse(&line, Precision::Milliseconds, NOW);
    assert_eq!(back.len(), 1, "{line:?}");
    let again = back
        .remove(0)
        .unwrap_or_else(|e| panic!("{line:?} rejected: {e:?}"));
    assert_same(r, &again, "writing it out as line protocol");
}
