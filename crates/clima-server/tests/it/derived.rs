//! Derived metrics: a reading with temperature and humidity gains dew point and absolute humidity
//! at ingest, marked as derived, stored and queried like any metric; a device's own dew point
//! wins, and replies count only what the device sent.

use serde_json::Value;

use crate::util::*;

fn metrics_of(s: &Server, sensor: &str) -> Vec<Value> {
    sensor_info(s, sensor)["metrics"]
        .as_array()
        .unwrap()
        .clone()
}

fn metric<'a>(metrics: &'a [Value], name: &str) -> &'a Value {
    metrics
        .iter()
        .find(|m| m["metric"] == name)
        .unwrap_or_else(|| panic!("no {name}: {metrics:?}"))
}

#[test]
fn dew_point_and_absolute_humidity_are_derived_unless_sent() {
    let s = Server::start(&[]);
    let url = s.url("/api/v1/readings");
    let body = r#"{"sensor":"bath","temperature":20,"humidity":50,"measured_at":1795683600}"#;
    let r = post_json(&url, body).json();
    assert_eq!(
        (r["accepted"].as_u64(), r["duplicates"].as_u64()),
        (Some(1), Some(0)),
        "{r}"
    );
    let m = metrics_of(&s, "bath");
    let dew = metric(&m, "dew_point");
    assert_eq!(
        (dew["derived"].as_bool(), dew["unit"].as_str()),
        (Some(true), Some("°C")),
        "{dew}"
    );
    assert!(
        (dew["value"].as_f64().unwrap() - 9.26).abs() < 0.01,
        "{dew}"
    );
    let abs = metric(&m, "absolute_humidity");
    assert_eq!(
        (abs["derived"].as_bool(), abs["unit"].as_str()),
        (Some(true), Some("g/m³")),
        "{abs}"
    );
    assert!(
        (abs["value"].as_f64().unwrap() - 8.62).abs() < 0.01,
        "{abs}"
    );
    assert_eq!(
        metric(&m, "temperature").get("derived"),
        None,
        "a sent value is not marked"
    );

    // A resend counts the two values sent, not the derived ones.
    let r = post_json(&url, body).json();
    assert_eq!(r["duplicates"], 2, "{r}");
    // Another temperature at the same time is one conflict, the one sent.
    let r = post_json(&url, &body.replace(":20,", ":25,")).json();
    assert_eq!(r["conflicts"], 1, "{r}");

    // Derived values are a series like any other: history, rollups and charts.
    assert_eq!(stored_count(&s, "bath", "dew_point"), 1);
    let q = "sensor=bath&metric=absolute_humidity&from=1795683000&to=1795684200&points=2";
    let range = get(&s.url(&format!("/api/v1/readings?{q}"))).json();
    let total: u64 = range["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1, "{range}");

    // The device's own dew point wins; absolute humidity is still derived.
    post_json(
        &url,
        r#"{"sensor":"bath","temperature":20,"humidity":50,"dew_point":9.9,"measured_at":1795683660}"#,
    );
    let m = metrics_of(&s, "bath");
    let dew = metric(&m, "dew_point");
    assert_eq!(
        (dew["value"].as_f64(), dew.get("derived")),
        (Some(9.9), None),
        "{dew}"
    );
    assert_eq!(metric(&m, "absolute_humidity")["derived"], true);

    // Temperature alone derives nothing.
    post_json(&url, r#"{"sensor":"oven","temperature":180}"#);
    assert_eq!(metrics_of(&s, "oven").len(), 1);
}
