//! The JSON ingest body: one reading object, an array of them, or the `{"measurement": {...}}`
//! wrapper of the original sensor device.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::reading::{Draft, Reading, Rejected};
use crate::sensor::SensorId;
use crate::{timestamp, FieldError, Millis};

/// Most readings one request may carry.
pub const MAX_BATCH: usize = 10_000;

/// Why a whole body was refused (as opposed to single items in it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BodyError {
    /// The bytes are not JSON.
    #[error("body is not valid JSON ({0}): send a reading object or an array of them")]
    Syntax(String),
    /// The top-level value is neither an object nor an array.
    #[error("body must be a reading object or an array of reading objects")]
    Shape,
    /// The array holds more than [`MAX_BATCH`] items.
    #[error("batch has {0} readings: send at most 10000 per request")]
    TooMany(usize),
    /// The array is empty.
    #[error("batch is empty: send at least one reading")]
    Empty,
}

type Fields<'a> = BTreeMap<String, &'a RawValue>;

/// Parses a body into per-item results. `fallback` names readings that carry no `sensor`.
pub fn parse_body(
    body: &[u8],
    fallback: &SensorId,
    now: Millis,
) -> Result<Vec<Result<Reading, Rejected>>, BodyError> {
    let text =
        std::str::from_utf8(body).map_err(|e| BodyError::Syntax(format!("invalid UTF-8: {e}")))?;
    let raw: &RawValue =
        serde_json::from_str(text).map_err(|e| BodyError::Syntax(e.to_string()))?;
    let items: Vec<&RawValue> = match raw.get().as_bytes().first() {
        Some(b'[') => {
            serde_json::from_str(raw.get()).map_err(|e| BodyError::Syntax(e.to_string()))?
        }
        Some(b'{') => vec![raw],
        _ => return Err(BodyError::Shape),
    };
    if items.len() > MAX_BATCH {
        return Err(BodyError::TooMany(items.len()));
    }
    if items.is_empty() {
        return Err(BodyError::Empty);
    }
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            parse_item(item, fallback, now).map_err(|e| match e {
                ItemError::Field(f) => Rejected::field(i, f),
                ItemError::Other(s) => Rejected::new(i, s),
            })
        })
        .collect())
}

enum ItemError {
    Field(FieldError),
    Other(String),
}

impl From<FieldError> for ItemError {
    fn from(e: FieldError) -> Self {
        ItemError::Field(e)
    }
}

fn parse_item(item: &RawValue, fallback: &SensorId, now: Millis) -> Result<Reading, ItemError> {
    let mut fields: Fields = serde_json::from_str(item.get())
        .map_err(|_| ItemError::Other("item is not a JSON object".into()))?;
    // The original device wraps its values: {"measurement": {...}}.
    if let Some(inner) = fields.remove("measurement") {
        let inner: Fields = serde_json::from_str(inner.get())
            .map_err(|_| FieldError::new("measurement", "must be an object of metric fields"))?;
        for (k, v) in inner {
            fields.entry(k).or_insert(v);
        }
    }
    let mut draft = Draft::default();
    for (key, raw) in &fields {
        match key.as_str() {
            "sensor" => {
                let s = as_string(key, raw)?;
                draft.sensor = Some(
                    SensorId::parse(&s).map_err(|e| FieldError::new("sensor", e.to_string()))?,
                );
            }
            "name" => {
                if raw.get() != "null" {
                    draft.name(&as_string(key, raw)?)?;
                }
            }
            "measured_at" => {
                let t = match kind(raw) {
                    Kind::String => timestamp::from_rfc3339(&as_string(key, raw)?),
                    Kind::Number => timestamp::from_unix_number(number(key, raw)?),
                    Kind::Null => continue,
                    _ => Err("must be an RFC 3339 string or a unix time number".to_owned()),
                }
                .map_err(|p| FieldError::new("measured_at", p))?;
                draft.measured_at(t, now)?;
            }
            // A bad metric field is refused alone; the reading's other values are kept.
            _ => match metric_value(key, raw) {
                Ok(Some(v)) => draft.metric_or_refuse(key, v),
                Ok(None) => {}
                Err(e) => draft.refuse(e),
            },
        }
    }
    if let Some(e) = draft.first_refused().filter(|_| !draft.has_values()) {
        return Err(e.clone().into());
    }
    draft.finish(fallback).map_err(ItemError::Other)
}

#[derive(Debug, PartialEq)]
enum Kind {
    Number,
    String,
    Bool,
    Null,
    Object,
    Array,
}

impl Kind {
    fn describe(&self, raw: &RawValue) -> String {
        match self {
            Kind::String => {
                let text: String = serde_json::from_str(raw.get()).unwrap_or_default();
                let short: String = text.chars().take(40).collect();
                format!("the string {short:?}")
            }
            Kind::Bool => "a boolean".into(),
            Kind::Object => "an object".into(),
            Kind::Array => "an array".into(),
            Kind::Null => "null".into(),
            Kind::Number => "a number".into(),
        }
    }
}

fn kind(raw: &RawValue) -> Kind {
    match raw.get().as_bytes().first() {
        Some(b'"') => Kind::String,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        _ => Kind::Number,
    }
}

/// Reads a number from its JSON text, so that values too large for f64 surface as infinite
/// (and are rejected by name) instead of failing the whole body.
fn number(key: &str, raw: &RawValue) -> Result<f64, FieldError> {
    raw.get()
        .parse::<f64>()
        .map_err(|_| FieldError::new(key, "is not a number"))
}

/// A metric field's value: a number, or a string holding one finite number (ESPHome's
/// `json:` form sends `"21.500000"`); `None` for null.
fn metric_value(key: &str, raw: &RawValue) -> Result<Option<f64>, FieldError> {
    match kind(raw) {
        Kind::Number => number(key, raw).map(Some),
        Kind::Null => Ok(None),
        Kind::String => {
            let text: String = serde_json::from_str(raw.get()).unwrap_or_default();
            match text.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && !text.trim().is_empty() => Ok(Some(v)),
                _ => Err(FieldError::new(
                    key,
                    format!("expected a number, got {}", Kind::String.describe(raw)),
                )),
            }
        }
        other => Err(FieldError::new(
            key,
            format!("expected a number, got {}", other.describe(raw)),
        )),
    }
}

fn as_string(key: &str, raw: &RawValue) -> Result<String, FieldError> {
    serde_json::from_str::<String>(raw.get()).map_err(|_| {
        FieldError::new(
            key,
            format!("expected a string, got {}", kind(raw).describe(raw)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_795_700_000_000;

    fn fallback() -> SensorId {
        SensorId::parse("ip-127-0-0-1").unwrap()
    }

    fn parse(body: &str) -> Vec<Result<Reading, Rejected>> {
        parse_body(body.as_bytes(), &fallback(), NOW).unwrap()
    }

    fn values(r: &Reading) -> Vec<(String, f64)> {
        r.values.iter().map(|(m, v)| (m.to_string(), *v)).collect()
    }

    #[test]
    fn seed_device_body() {
        let body = include_str!("../tests/data/http/seed-device.json");
        let got = parse(body);
        let r = got[0].as_ref().unwrap();
        assert_eq!(r.sensor, fallback());
        assert_eq!(r.measured_at, Some(1_795_683_601_000));
        let mut v = values(r);
        v.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            v,
            vec![
                ("dew_point".into(), 10.6),
                ("humidity".into(), 44.9),
                ("iaq".into(), 51.2),
                ("pressure".into(), 1008.12),
                ("temperature".into(), 23.41),
            ]
        );
    }

    #[test]
    fn batch_with_three_time_forms() {
        let got = parse(include_str!("../tests/data/http/batch.json"));
        let times: Vec<_> = got
            .iter()
            .map(|r| r.as_ref().unwrap().measured_at.unwrap())
            .collect();
        assert_eq!(
            times,
            vec![1_795_683_600_000, 1_795_683_660_000, 1_795_683_660_000]
        );
        let garage = got[2].as_ref().unwrap();
        assert_eq!(garage.sensor.as_str(), "garage");
        assert_eq!(garage.name.as_deref(), Some("Garage (north wall)"));
    }

    fn rejected(body: &str) -> Rejected {
        parse(body).remove(0).unwrap_err()
    }

    #[test]
    fn one_bad_field_leaves_the_good_ones_and_numbers_may_be_strings() {
        let got = parse(
            r#"{"sensor":"esp","temperature":"21.500000","humidity":" 48.2 ","co2":"n/a","pressure":1e400,"room":"attic"}"#,
        );
        let r = got[0].as_ref().unwrap();
        assert_eq!(
            values(r),
            [("humidity".into(), 48.2), ("temperature".into(), 21.5)]
        );
        let refused: Vec<&str> = r.refused.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(refused, ["co2", "pressure", "room"]);
        for bad in [r#""NaN""#, r#""inf""#, r#""""#, r#""0x10""#, r#""1,5""#] {
            let r = rejected(&format!(r#"{{"temperature":{bad}}}"#));
            assert_eq!(r.field.as_deref(), Some("temperature"), "{bad}");
        }
    }

    #[test]
    fn item_rejections_name_the_field() {
        let r = rejected(r#"{"sensor":"bench","temperature":"n/a"}"#);
        assert_eq!(r.field.as_deref(), Some("temperature"));
        assert!(r.reason.contains("expected a number"), "{}", r.reason);
        assert_eq!(
            rejected(r#"{"temperature":1e400}"#).field.as_deref(),
            Some("temperature")
        );
        assert_eq!(
            rejected(r#"{"temperature":999}"#).field.as_deref(),
            Some("temperature")
        );
        assert_eq!(
            rejected(r#"{"humidity":101}"#).field.as_deref(),
            Some("humidity")
        );
        assert_eq!(
            rejected(r#"{"sensor":"a b","t":1}"#).field.as_deref(),
            Some("sensor")
        );
        assert_eq!(
            rejected(r#"{"sensor":5,"t":1}"#).field.as_deref(),
            Some("sensor")
        );
        assert_eq!(rejected(r#"{"t":true}"#).field.as_deref(), Some("t"));
        assert_eq!(
            rejected(r#"{"t":1,"measured_at":"yesterday"}"#)
                .field
                .as_deref(),
            Some("measured_at")
        );
        assert_eq!(
            rejected(r#"{"t":1,"measured_at":0}"#).field.as_deref(),
            Some("measured_at")
        );
        assert!(rejected(r#"{"sensor":"x"}"#).reason.contains("no numeric"));
        assert!(rejected(r#"[1]"#).reason.contains("not a JSON object"));
    }

    #[test]
    fn good_items_survive_bad_neighbours() {
        let got = parse(include_str!("../tests/data/serial/json-lines-array.json"));
        assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 2);
        assert_eq!(got[2].as_ref().unwrap_err().index, 2);
    }

    #[test]
    fn body_errors() {
        let f = fallback();
        assert!(matches!(
            parse_body(b"{", &f, NOW),
            Err(BodyError::Syntax(_))
        ));
        assert!(matches!(
            parse_body(b"\xff", &f, NOW),
            Err(BodyError::Syntax(_))
        ));
        assert_eq!(parse_body(b"42", &f, NOW), Err(BodyError::Shape));
        assert_eq!(parse_body(b"[]", &f, NOW), Err(BodyError::Empty));
        let big = format!("[{}]", vec!["{\"t\":1}"; MAX_BATCH + 1].join(","));
        assert_eq!(
            parse_body(big.as_bytes(), &f, NOW),
            Err(BodyError::TooMany(MAX_BATCH + 1))
        );
        // Deep nesting must end in an error, never a stack overflow.
        for depth in [200, 100_000] {
            let deep = format!("[{}{}]", "{\"a\":".repeat(depth), "}".repeat(depth));
            match parse_body(deep.as_bytes(), &f, NOW) {
                Err(BodyError::Syntax(_)) => {}
                Ok(items) => assert!(items[0].is_err()),
                other => panic!("{other:?}"),
            }
        }
    }
}
