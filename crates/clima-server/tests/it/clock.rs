//! The two clocks: a backlog, a device clock ahead and one behind are each reported per sensor in
//! `/api/v1/sensors` and on the live stream, with both times; a live reading puts them in step.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::stream::Events;
use crate::util::*;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn clock_of(s: &Server, sensor: &str) -> Value {
    sensor_info(s, sensor)["clock"].clone()
}

/// Checks a clock: its skew kind, and a skew of `skew_ms` give or take the test's own delays.
fn check(clock: &Value, skew: Option<&str>, skew_ms: i64, measured_at: i64) {
    assert_eq!(clock["skew"].as_str(), skew, "{clock}");
    assert_eq!(clock["measured_at"], measured_at, "{clock}");
    let received = clock["received_at"].as_i64().unwrap();
    assert_eq!(
        clock["skew_ms"].as_i64().unwrap(),
        received - measured_at,
        "{clock}"
    );
    let off = (received - measured_at - skew_ms).abs();
    assert!(
        off < 10_000,
        "skew {} is not about {skew_ms}: {clock}",
        received - measured_at
    );
}

#[test]
fn backlog_clock_ahead_and_clock_behind() {
    let s = Server::start(&["--throttle-ms", "50"]);
    let url = s.url("/api/v1/readings");
    let mut events = Events::open(&s);
    let now = now_ms();

    // Yesterday's values, resent in one request.
    let yesterday = now - 24 * HOUR;
    let backlog: Vec<String> = (0..5)
        .map(|i| {
            format!(
                r#"{{"sensor":"cellar","temperature":{},"measured_at":{}}}"#,
                12 + i,
                yesterday + i * MINUTE
            )
        })
        .collect();
    let r = post_json(&url, &format!("[{}]", backlog.join(",")));
    assert_eq!(r.status, 201, "{}", r.body);
    check(
        &clock_of(&s, "cellar"),
        Some("backlog"),
        24 * HOUR - 4 * MINUTE,
        yesterday + 4 * MINUTE,
    );
    assert_eq!(clock_of(&s, "cellar")["backlog"], true);

    // A clock half an hour ahead (more than an hour ahead is refused).
    let ahead = now + 30 * MINUTE;
    post_json(
        &url,
        &format!(r#"{{"sensor":"attic","temperature":21,"measured_at":{ahead}}}"#),
    );
    check(&clock_of(&s, "attic"), Some("ahead"), -30 * MINUTE, ahead);

    // A clock three hours behind, one reading at a time.
    for i in 0..2 {
        let behind = now - 3 * HOUR + i * 1000;
        post_json(
            &url,
            &format!(
                r#"{{"sensor":"hall","temperature":19,"humidity":50,"measured_at":{behind}}}"#
            ),
        );
    }
    check(
        &clock_of(&s, "hall"),
        Some("behind"),
        3 * HOUR,
        now - 3 * HOUR + 1000,
    );
    assert_eq!(clock_of(&s, "hall")["backlog"], false);

    // The live stream carries each sensor's clock with its values.
    let mut streamed = std::collections::HashMap::new();
    while streamed.len() < 3 {
        let (_, data) = events.next();
        let v: Value = serde_json::from_str(&data).unwrap();
        for r in v["readings"].as_array().unwrap() {
            streamed.insert(
                r["sensor"].as_str().unwrap().to_owned(),
                r["clock"]["skew"].clone(),
            );
        }
    }
    assert_eq!(streamed["cellar"], "backlog");
    assert_eq!(streamed["attic"], "ahead");
    assert_eq!(streamed["hall"], "behind");

    // A reading without a time of its own is in step; a sensor that never sent one has no skew.
    post_json(&url, r#"{"sensor":"cellar","temperature":14}"#);
    assert_eq!(clock_of(&s, "cellar")["skew"], Value::Null);
    assert_eq!(clock_of(&s, "cellar")["skew_ms"], 0);
}
