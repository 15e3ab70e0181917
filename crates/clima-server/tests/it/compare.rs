//! Comparing sensors through the HTTP API: `sensor=a,b,c` on readings, the chart and the
//! exports gives one series per sensor on the same buckets (gaps kept), at most 8; and derived
//! metrics that follow calibrated inputs.

use serde_json::Value;

use crate::util::*;

const T0: i64 = 1_795_683_600_000;
const MINUTE: i64 = 60_000;

fn reading(sensor: &str, at: i64, t: f64, rh: f64) -> String {
    format!(r#"{{"sensor":"{sensor}","temperature":{t},"humidity":{rh},"measured_at":{at}}}"#)
}

fn lab(s: &Server) {
    // Living room every minute for an hour; bedroom only in the first and last 10 minutes.
    let mut items: Vec<String> = (0..60)
        .map(|i| reading("living", T0 + i * MINUTE, 21.0, 50.0))
        .collect();
    items.extend(
        (0..60)
            .filter(|i| !(10..50).contains(i))
            .map(|i| reading("bedroom", T0 + i * MINUTE, 17.0, 60.0)),
    );
    items.push(reading("hall", T0, 19.0, 40.0));
    post_batch(s, &items);
    post_json(
        &s.url("/api/v1/sensors/name"),
        r#"{"sensor":"bedroom","name":"Bedroom <b>"}"#,
    );
}

fn range_q(sensors: &str) -> String {
    format!(
        "sensor={sensors}&metric=temperature&from={T0}&to={}&points=60",
        T0 + 60 * MINUTE
    )
}

#[test]
fn one_series_per_sensor_on_the_same_buckets() {
    let s = Server::start(&[]);
    lab(&s);
    let r = get(&s.url(&format!("/api/v1/readings?{}", range_q("living,bedroom"))));
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.json();
    assert_eq!(
        (
            c["metric"].as_str(),
            c["unit"].as_str(),
            c["bucket_ms"].as_i64()
        ),
        (Some("temperature"), Some("°C"), Some(MINUTE))
    );
    let series = c["series"].as_array().unwrap();
    let ids: Vec<_> = series
        .iter()
        .map(|x| x["sensor"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["living", "bedroom"]);
    assert_eq!(series[1]["name"], "Bedroom <b>");
    let counts = |x: &Value| -> Vec<u64> {
        x["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_u64().unwrap())
            .collect()
    };
    // The same buckets for both; the bedroom's silence is 40 empty buckets, as on its own chart.
    assert_eq!(counts(&series[0]), vec![1; 60]);
    let bedroom = counts(&series[1]);
    assert_eq!(bedroom.len(), 60);
    assert_eq!(bedroom.iter().filter(|n| **n == 0).count(), 40);
    let single = get(&s.url(&format!("/api/v1/readings?{}", range_q("bedroom")))).json();
    assert_eq!(single["points"], series[1]["points"]);
    assert!(single.get("series").is_none());

    // The chart takes the same list: one line per sensor, a legend naming them (as text).
    let chart = get(&s.url(&format!(
        "/api/v1/chart.svg?{}&width=800&height=300",
        range_q("living,bedroom,hall")
    )));
    assert_eq!(chart.status, 200, "{}", chart.body);
    assert!(chart.header("x-clima-plot-area").is_some());
    assert!(
        chart.body.lines().any(|l| l.trim() == "living"),
        "{}",
        chart.body
    );
    assert!(
        chart.body.contains("Bedroom &lt;b&gt; (bedroom)"),
        "{}",
        chart.body
    );
    assert!(!chart.body.contains("<b>"));
    for colour in ["#1F7AE0", "#E06C1F"] {
        assert!(
            chart.body.contains(&format!("stroke=\"{colour}\"")),
            "{colour}"
        );
    }
    // The bedroom's line breaks at its silence: two pieces in its colour.
    let pieces = chart
        .body
        .lines()
        .filter(|l| l.starts_with("<polyline") && l.contains("stroke=\"#E06C1F\""))
        .count();
    assert_eq!(pieces, 2, "{}", chart.body);

    // Exports of the comparison: one CSV under one header, charts titled by metric.
    let csv = get(&s.url(&format!("/api/v1/export.csv?{}", range_q("living,bedroom"))));
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], "sensor,metric,unit,measured_at,received_at,value");
    assert_eq!(lines.iter().filter(|l| l.starts_with("sensor,")).count(), 1);
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("living,")).count(),
        60
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("bedroom,")).count(),
        20
    );
    assert_eq!(
        csv.header("x-clima-calibration"),
        Some("living: none, bedroom: none")
    );
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .contains("living+bedroom-temperature.csv"));
    let svg = get(&s.url(&format!("/api/v1/export.svg?{}", range_q("living,bedroom"))));
    assert!(svg.body.starts_with("<svg") && svg.body.contains("temperature (times in UTC)"));
    let png = get(&s.url(&format!("/api/v1/export.png?{}", range_q("living,bedroom"))));
    assert_eq!(
        (png.status, png.header("content-type")),
        (200, Some("image/png"))
    );
}

#[test]
fn limits_and_unknown_sensors_are_refused_by_name() {
    let s = Server::start(&[]);
    lab(&s);
    let nine = (1..=9)
        .map(|i| format!("s{i}"))
        .collect::<Vec<_>>()
        .join(",");
    for path in ["readings", "chart.svg", "export.csv"] {
        let r = get(&s.url(&format!("/api/v1/{path}?{}", range_q(&nine))));
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (400, Some("too_many_sensors")),
            "{path}"
        );
        assert!(r.json()["message"].as_str().unwrap().contains("at most 8"));
    }
    let r = get(&s.url(&format!("/api/v1/readings?{}", range_q("living,nowhere"))));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("unknown_series"))
    );
    assert!(r.json()["message"].as_str().unwrap().contains("nowhere"));
    let r = get(&s.url(&format!("/api/v1/readings?{}", range_q("living,bad id"))));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_sensor"))
    );
    // Eight is fine, and a repeated id counts once.
    let r = get(&s.url(&format!(
        "/api/v1/readings?{}",
        range_q("living,bedroom,living")
    )));
    assert_eq!(r.json()["series"].as_array().unwrap().len(), 2);
}

#[test]
fn derived_metrics_follow_calibrated_inputs() {
    let s = Server::start(&[]);
    // A sensor reading 1 °C warm and 5 % dry: 21 °C and 45 % raw are 20 °C and 50 %, whose dew
    // point is 9.3 °C (derived at ingest from the raw values: 8.6 °C).
    post_batch(&s, &[reading("lab", T0, 21.0, 45.0)]);
    let dew = |s: &Server| -> (f64, f64, String) {
        let latest = sensor_info(s, "lab")["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == "dew_point")
            .unwrap()["value"]
            .as_f64()
            .unwrap();
        let q = format!(
            "sensor=lab&metric=dew_point&from={T0}&to={}&points=1",
            T0 + MINUTE
        );
        let bucket = get(&s.url(&format!("/api/v1/readings?{q}"))).json()["points"][0]["mean"]
            .as_f64()
            .unwrap();
        let csv = get(&s.url(&format!("/api/v1/export.csv?{q}")));
        let applied = csv.header("x-clima-calibration").unwrap().to_owned();
        let value: f64 = csv
            .body
            .lines()
            .nth(1)
            .unwrap()
            .rsplit(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(value, bucket);
        (latest, bucket, applied)
    };
    let (latest, bucket, applied) = dew(&s);
    assert!(
        (latest - 8.6).abs() < 0.1 && latest == bucket,
        "{latest} {bucket}"
    );
    assert_eq!(applied, "none");
    for (metric, offset) in [("temperature", -1.0), ("humidity", 5.0)] {
        let r = post_json(
            &s.url("/api/v1/sensors/calibration"),
            &format!(r#"{{"sensor":"lab","metric":"{metric}","offset":{offset}}}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let (latest, bucket, applied) = dew(&s);
    assert!(
        (latest - 9.3).abs() < 0.05 && latest == bucket,
        "{latest} {bucket}"
    );
    assert_eq!(
        applied,
        "derived from calibrated temperature (offset=-1; scale=1) and humidity (offset=5; scale=1)"
    );
    // Raw still gives what was stored.
    let raw = get(&s.url(&format!(
        "/api/v1/export.csv?sensor=lab&metric=dew_point&from={T0}&to={}&raw=true",
        T0 + MINUTE
    )));
    let stored: f64 = raw
        .body
        .lines()
        .nth(1)
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((stored - 8.6).abs() < 0.1, "{}", raw.body);
}
