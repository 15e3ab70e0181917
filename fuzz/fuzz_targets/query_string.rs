//! A request's query string as the HTTP routes read it: decoded pairs (clima-core's
//! `http::request::query_pairs`, which is `form_urlencoded::parse`), the push form of URL-only
//! devices, the `from`/`to`/`points` of a range with its bucket plan, `precision`, and the
//! rate and duration settings.
#![no_main]

use clima_fuzz::{assert_same, check_reading, check_rejected, NOW};
use clima_model::downsample::{BucketPlan, MAX_POINTS};
use clima_model::line_protocol::Precision;
use clima_model::rate::{parse_duration, parse_rate};
use clima_model::timestamp::{format_rfc3339, from_rfc3339, from_text};
use clima_model::{push, Reading, SensorId, DAY};
use libfuzzer_sys::fuzz_target;

/// The route's default number of buckets (http/routes.rs).
const DEFAULT_POINTS: i64 = 500;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    let param = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };

    // `/api/v1/push`: the query is the reading.
    let fallback = SensorId::parse("ip-10-0-0-7").unwrap();
    match push::parse(&pairs, &fallback, NOW) {
        Ok(r) => {
            check_reading(&r, NOW);
            // Credentials are never data.
            assert!(
                r.values
                    .iter()
                    .all(|(m, _)| !matches!(m.as_str(), "token" | "p")),
                "a credential parameter was stored: {r:?}"
            );
            round_trip(&r, &fallback);
        }
        Err(rejected) => {
            assert_eq!(rejected.index, 0);
            check_rejected(&rejected);
        }
    }

    for (_, value) in &pairs {
        check_time(value);
        check_rate(value);
        let _ = Precision::parse(value);
    }

    // `/api/v1/readings` and the chart: a range and its buckets.
    let time = |key| param(key).map(from_text).transpose();
    let (Ok(to), Ok(from)) = (time("to"), time("from")) else {
        return;
    };
    let to = to.unwrap_or(NOW);
    let from = from.unwrap_or(to - DAY);
    let points = match param("points").map(str::parse::<i64>) {
        Some(Ok(n)) => n,
        Some(Err(_)) => return,
        None => DEFAULT_POINTS,
    }
    .clamp(0, i64::from(u32::MAX)) as usize;
    if let Ok(plan) = BucketPlan::new(from, to, points) {
        assert!(
            (1..=points.min(MAX_POINTS)).contains(&plan.count)
                && plan.width > 0
                && plan.start <= from
                && plan.start.rem_euclid(plan.width) == 0
                && plan.end() >= to
                && plan.end() - plan.width < to,
            "plan {plan:?} for [{from}, {to}) in {points} points"
        );
    } else {
        // The only refusals a range of parsed times can get.
        assert!(
            to <= from || points == 0 || points > MAX_POINTS || (points == 1 && from < 0 && to > 0),
            "no plan for [{from}, {to}) in {points} points"
        );
    }
});

/// A time parameter is within the range the store can hold, and a time Clima formats reads
/// back as itself.
fn check_time(value: &str) {
    if let Ok(t) = from_text(value) {
        assert!(t.abs() <= 1_000_000_000_000_000, "{value:?} gave {t}");
        if t >= 0 {
            let text = format_rfc3339(t);
            assert_eq!(from_text(&text), Ok(t), "{value:?} formatted as {text:?}");
        }
    }
    if let Ok(t) = from_rfc3339(value) {
        assert_eq!(from_text(value), Ok(t), "{value:?}");
    }
}

fn check_rate(value: &str) {
    if let Ok(Some(spec)) = parse_rate(value) {
        assert!(spec.count > 0 && !spec.period.is_zero(), "{value:?}");
    }
    if let Some(d) = parse_duration(value) {
        let ms = format!("{}ms", d.as_millis());
        assert_eq!(parse_duration(&ms), Some(d), "{value:?}");
    }
}

/// Sends `r` again as a push URL and expects the same reading.
fn round_trip(r: &Reading, fallback: &SensorId) {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("id", r.sensor.as_str());
    if let Some(name) = &r.name {
        query.append_pair("name", name);
    }
    if let Some(t) = r.measured_at {
        query.append_pair("measured_at", &t.to_string());
    }
    for (m, v) in &r.values {
        query.append_pair(m.as_str(), &format!("{v:?}"));
    }
    let query = query.finish();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let again: Reading =
        push::parse(&pairs, fallback, NOW).unwrap_or_else(|e| panic!("{query:?} rejected: {e:?}"));
    assert_same(r, &again, "sending it again as a push URL");
}
