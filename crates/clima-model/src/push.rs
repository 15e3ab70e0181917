//! URL-only devices (Shelly H&T and friends): a reading carried in query parameters, such as
//! `?id=shellyht-00EB85&temp=-5.38&hum=23`.

use crate::reading::{Draft, Reading, Rejected};
use crate::sensor::SensorId;
use crate::{timestamp, FieldError, Millis};

/// Query parameters that are not metrics. `token` and `p` are credentials (the HTTP layer
/// accepts `?p=` from InfluxDB 1 clients on every route): never data, or a numeric token would
/// be stored and shown as a metric, and any other one would get the push refused.
const RESERVED: &[&str] = &["id", "sensor", "name", "measured_at", "token", "p"];

/// Builds a reading from decoded query pairs. `fallback` names a device that sends no `id`.
pub fn parse(
    pairs: &[(String, String)],
    fallback: &SensorId,
    now: Millis,
) -> Result<Reading, Rejected> {
    build(pairs, fallback, now).map_err(|e| Rejected::field(0, e))
}

fn build(
    pairs: &[(String, String)],
    fallback: &SensorId,
    now: Millis,
) -> Result<Reading, FieldError> {
    let mut draft = Draft::default();
    for (key, value) in pairs {
        match key.as_str() {
            "id" | "sensor" => {
                draft.sensor =
                    Some(SensorId::parse(value).map_err(|e| FieldError::new(key, e.to_string()))?)
            }
            "name" => draft.name(value)?,
            "measured_at" => {
                let t = timestamp::from_text(value).map_err(|p| FieldError::new(key, p))?;
                draft.measured_at(t, now)?;
            }
            k if RESERVED.contains(&k) => {}
            // A bad value is refused alone; the other values are kept.
            _ => match value.trim().parse::<f64>() {
                Ok(v) => draft.metric_or_refuse(key, v),
                Err(_) => draft.refuse(FieldError::new(
                    key,
                    format!("value {value:?} is not a number"),
                )),
            },
        }
    }
    if let Some(e) = draft.first_refused().filter(|_| !draft.has_values()) {
        return Err(e.clone());
    }
    draft
        .finish(fallback)
        .map_err(|p| FieldError::new("query", p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn check(q: &str) -> Result<Reading, Rejected> {
        parse(
            &pairs(q),
            &SensorId::parse("ip-1").unwrap(),
            1_795_700_000_000,
        )
    }

    #[test]
    fn shelly_report() {
        let line = include_str!("../tests/data/http/shelly-ht-gen1.txt");
        let query = line
            .split_whitespace()
            .nth(1)
            .unwrap()
            .split_once('?')
            .unwrap()
            .1;
        let r = check(query).unwrap();
        assert_eq!(r.sensor.as_str(), "shellyht-00EB85");
        assert_eq!(r.measured_at, None);
        let v: Vec<_> = r.values.iter().map(|(m, v)| (m.as_str(), *v)).collect();
        assert_eq!(v, vec![("temperature", -5.38), ("humidity", 23.0)]);
    }

    #[test]
    fn push_rules() {
        assert_eq!(check("temp=20&token=abc").unwrap().sensor.as_str(), "ip-1");
        assert_eq!(
            check("sensor=s1&temp=20&measured_at=1795683660")
                .unwrap()
                .measured_at,
            Some(1_795_683_660_000)
        );
        assert_eq!(
            check("id=s1&temp=warm").unwrap_err().field.as_deref(),
            Some("temp")
        );
        assert_eq!(
            check("id=s1&hum=120").unwrap_err().field.as_deref(),
            Some("hum")
        );
        assert_eq!(
            check("id=bad id&temp=1").unwrap_err().field.as_deref(),
            Some("id")
        );
        assert!(check("id=s1").unwrap_err().reason.contains("no numeric"));
        // `?p=` is the InfluxDB 1 password the HTTP layer accepts as the token (found by fuzzing).
        for q in ["temp=20&p=1234", "p=s3cret&temp=20"] {
            let r = check(q).unwrap();
            let v: Vec<_> = r.values.iter().map(|(m, v)| (m.as_str(), *v)).collect();
            assert_eq!(v, vec![("temperature", 20.0)], "{q}");
        }
    }
}
