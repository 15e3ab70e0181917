//! The JSON ingest body of `POST /api/v1/readings`: an object, an array of them, or the
//! `{"measurement": {...}}` wrapper. Every accepted reading must be storable, and must come back
//! the same when written as a plain object and as the wrapper form.
#![no_main]

use clima_fuzz::{assert_same, check_reading, check_rejected, NOW};
use clima_model::json::{parse_body, BodyError, MAX_BATCH};
use clima_model::{Reading, SensorId};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let fallback = SensorId::parse("ip-127-0-0-1").unwrap();
    match parse_body(data, &fallback, NOW) {
        Ok(items) => {
            assert!((1..=MAX_BATCH).contains(&items.len()));
            for (i, item) in items.iter().enumerate() {
                match item {
                    Ok(r) => {
                        check_reading(r, NOW);
                        round_trip(r, &fallback);
                    }
                    Err(rejected) => {
                        assert_eq!(rejected.index, i);
                        check_rejected(rejected);
                    }
                }
            }
        }
        Err(BodyError::TooMany(n)) => assert!(n > MAX_BATCH),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});

fn round_trip(r: &Reading, fallback: &SensorId) {
    let mut head = Map::new();
    head.insert("sensor".into(), r.sensor.as_str().into());
    if let Some(name) = &r.name {
        head.insert("name".into(), name.as_str().into());
    }
    if let Some(t) = r.measured_at {
        head.insert("measured_at".into(), t.into());
    }
    let values: Map<String, Value> = r
        .values
        .iter()
        .map(|(m, v)| (m.to_string(), Value::from(*v)))
        .collect();

    let mut plain = head.clone();
    plain.extend(values.clone());
    let mut wrapped = head;
    wrapped.insert("measurement".into(), Value::Object(values));
    for (what, object) in [("plain object", plain), ("measurement wrapper", wrapped)] {
        let body = Value::Array(vec![Value::Object(object)]).to_string();
        let mut back = parse_body(body.as_bytes(), fallback, NOW)
            .unwrap_or_else(|e| panic!("{what} {body} refused: {e}"));
        assert_eq!(back.len(), 1);
        let again = back
            .remove(0)
            .unwrap_or_else(|e| panic!("{what} {body} rejected: {e:?}"));
        assert_same(r, &again, what);
    }
}
