//! The invariants every fuzz target checks on what a parser accepted: whatever the format, a
//! stored reading names a valid sensor and holds finite, canonical, plausible values.

use clima_model::metric::normalize;
use clima_model::reading::MAX_NAME_CHARS;
use clima_model::timestamp::check_plausible;
use clima_model::{Millis, Reading, Rejected, SensorId};

/// The host clock the targets pretend it is: 2026-11-26T10:13:20Z, as in the unit tests.
pub const NOW: Millis = 1_795_700_000_000;

/// Panics unless `r` could be stored as it is: a valid sensor id; at least one value, each
/// finite, under a metric name that normalises to itself with the same value (so canonical
/// and inside its plausible range) and at most once; a clean display name; and a device time
/// that `now` finds plausible.
pub fn check_reading(r: &Reading, now: Millis) {
    assert_eq!(
        SensorId::parse(r.sensor.as_str()).as_ref(),
        Ok(&r.sensor),
        "invalid sensor id in {r:?}"
    );
    assert!(!r.values.is_empty(), "reading without values: {r:?}");
    for (i, (metric, value)) in r.values.iter().enumerate() {
        assert!(value.is_finite(), "non-finite value in {r:?}");
        match normalize(metric.as_str(), *value) {
            Ok((m, v)) => assert!(
                m == *metric && v.to_bits() == value.to_bits(),
                "{metric}={value} is not canonical: normalises to {m}={v}"
            ),
            Err(e) => panic!("stored value {metric}={value} fails its own check: {e}"),
        }
        assert!(
            r.values[..i].iter().all(|(m, _)| m != metric),
            "metric {metric} twice in {r:?}"
        );
    }
    if let Some(name) = &r.name {
        assert!(
            !name.is_empty()
                && name.trim() == name
                && name.chars().count() <= MAX_NAME_CHARS
                && !name.chars().any(char::is_control),
            "unclean name {name:?}"
        );
    }
    if let Some(t) = r.measured_at {
        assert_eq!(check_plausible(t, now), Ok(t), "implausible time in {r:?}");
    }
}

/// Panics unless a refusal says what is wrong and, when it blames a field, starts with it.
pub fn check_rejected(r: &Rejected) {
    assert!(
        !r.reason.trim().is_empty(),
        "refusal without a reason: {r:?}"
    );
    if let Some(field) = &r.field {
        assert!(
            r.reason.starts_with(&format!("{field}: ")),
            "refusal blames {field:?} but says {:?}",
            r.reason
        );
    }
}

/// Two readings are the same if everything matches to the bit; the order of values does not
/// matter (JSON objects have none).
pub fn assert_same(a: &Reading, b: &Reading, what: &str) {
    let bits = |r: &Reading| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = r
            .values
            .iter()
            .map(|(m, v)| (m.to_string(), v.to_bits()))
            .collect();
        v.sort();
        v
    };
    assert!(
        a.sensor == b.sensor
            && a.name == b.name
            && a.measured_at == b.measured_at
            && bits(a) == bits(b),
        "{what} changed the reading:\n  {a:?}\n  {b:?}"
    );
}
