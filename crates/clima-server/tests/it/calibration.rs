//! Calibration: set per sensor and metric, applied when reading (latest values, ranges and their
//! min/max/mean, the live stream), never to what is stored; removed by offset 0 and scale 1;
//! kept across a restart.

use serde_json::Value;

use crate::stream::Events;
use crate::util::*;

const T0: i64 = 1_795_683_600_000;

fn latest(s: &Server, sensor: &str, metric: &str) -> Value {
    let metrics = sensor_info(s, sensor)["metrics"]
        .as_array()
        .unwrap()
        .clone();
    metrics.into_iter().find(|m| m["metric"] == metric).unwrap()
}

fn bucket(s: &Server) -> (f64, f64, f64, u64) {
    let r = get(&s.url(&format!(
        "/api/v1/readings?sensor=lab&metric=temperature&from={T0}&to={}&points=1",
        T0 + 60_000
    )))
    .json();
    let p = &r["points"][0];
    (
        p["mean"].as_f64().unwrap(),
        p["min"].as_f64().unwrap(),
        p["max"].as_f64().unwrap(),
        p["count"].as_u64().unwrap(),
    )
}

/// Posts four temperatures of sensor `lab`, 10 s apart from `T0`, and returns them.
fn post_lab_readings(s: &Server) -> [f64; 4] {
    let raw = [19.5, 20.0, 21.25, 20.5];
    let body: Vec<String> = raw
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                r#"{{"sensor":"lab","temperature":{v},"measured_at":{}}}"#,
                T0 + i as i64 * 10_000
            )
        })
        .collect();
    assert_eq!(
        post_json(&s.url("/api/v1/readings"), &format!("[{}]", body.join(","))).status,
        201
    );
    raw
}

fn set(s: &Server, body: &str) -> Resp {
    post_json(&s.url("/api/v1/sensors/calibration"), body)
}

#[test]
fn applied_when_reading_exact_on_buckets_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let s = Server::start_on(&db, &[]);
    let raw = post_lab_readings(&s);
    assert_eq!(bucket(&s), (20.3125, 19.5, 21.25, 4));

    let r = set(
        &s,
        r#"{"sensor":"lab","metric":"temperature","offset":10,"scale":-2}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Each bucket is the bucket of the corrected values: min and max swap under a negative scale.
    assert_eq!(
        bucket(&s),
        (
            10.0 - 2.0 * 20.3125,
            10.0 - 2.0 * 21.25,
            10.0 - 2.0 * 19.5,
            4
        )
    );
    let m = latest(&s, "lab", "temperature");
    assert_eq!(m["value"], 10.0 - 2.0 * 20.5, "{m}");
    assert_eq!(
        (
            m["calibration"]["offset"].as_f64(),
            m["calibration"]["scale"].as_f64()
        ),
        (Some(10.0), Some(-2.0))
    );

    // Exports say which calibration they applied, and give the stored values when asked.
    let q = format!("sensor=lab&metric=temperature&from={T0}&to={}", T0 + 60_000);
    let csv = get(&s.url(&format!("/api/v1/export.csv?{q}")));
    assert_eq!(
        csv.header("x-clima-calibration"),
        Some("offset=10; scale=-2")
    );
    let values = |body: &str| -> Vec<f64> {
        body.lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
            .collect()
    };
    assert_eq!(values(&csv.body), raw.map(|v| 10.0 - 2.0 * v));
    let csv = get(&s.url(&format!("/api/v1/export.csv?{q}&raw=true")));
    assert_eq!(
        (csv.header("x-clima-calibration"), values(&csv.body)),
        (Some("none"), raw.to_vec())
    );
    // The exported chart is drawn from the calibrated values (compared below with the raw one).
    let export_svg = |s: &Server| get(&s.url(&format!("/api/v1/export.svg?{q}"))).body;
    let calibrated_svg = export_svg(&s);

    // Live values go out calibrated too.
    let r = set(
        &s,
        r#"{"sensor":"lab","metric":"temperature","offset":-0.5}"#,
    );
    assert_eq!(
        (r.json()["offset"].as_f64(), r.json()["scale"].as_f64()),
        (Some(-0.5), Some(1.0))
    );
    let mut events = Events::open(&s);
    post_json(
        &s.url("/api/v1/readings"),
        r#"{"sensor":"lab","temperature":22}"#,
    );
    let (_, data) = events.next();
    let v: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["readings"][0]["value"], 21.5, "{v}");

    // Refusals say what is wrong.
    let r = set(&s, r#"{"sensor":"lab","metric":"temperature","scale":0}"#);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_calibration"))
    );
    let r = set(&s, r#"{"sensor":"lab","metric":"humidity","offset":1}"#);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("unknown_series"))
    );

    // Kept across a restart; offset 0 and scale 1 give the raw values back.
    s.terminate();
    let s = Server::start_on(&db, &[]);
    assert_eq!(latest(&s, "lab", "temperature")["value"], 21.5);
    set(
        &s,
        r#"{"sensor":"lab","metric":"temperature","offset":0,"scale":1}"#,
    );
    let m = latest(&s, "lab", "temperature");
    assert_eq!(
        (m["value"].as_f64(), m.get("calibration")),
        (Some(22.0), None),
        "{m}"
    );
    assert_eq!(bucket(&s), (20.3125, 19.5, 21.25, 4));
    assert_ne!(export_svg(&s), calibrated_svg);
}

/// `clima-server export` on the database file reads through the calibration as the HTTP export
/// does (the same bytes), says which it applied, and writes the stored values with `--raw`.
#[test]
fn the_export_command_applies_the_calibration_as_http_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let s = Server::start_on(&db, &[]);
    let raw = post_lab_readings(&s);
    let r = set(
        &s,
        r#"{"sensor":"lab","metric":"temperature","offset":10,"scale":-2}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (from, to) = (T0 / 1000, (T0 + 60_000) / 1000);
    let q = format!("sensor=lab&metric=temperature&from={from}&to={to}");
    let http = get(&s.url(&format!("/api/v1/export.csv?{q}"))).body;
    let http_raw = get(&s.url(&format!("/api/v1/export.csv?{q}&raw=true"))).body;
    let http_svg = get(&s.url(&format!("/api/v1/export.svg?{q}"))).body;
    assert!(s.terminate().success());

    let export = |out: &std::path::Path, more: &[&str]| {
        let (from, to) = (from.to_string(), to.to_string());
        let mut args = vec![
            "export",
            "--db",
            db.to_str().unwrap(),
            "--sensor",
            "lab",
            "--metric",
            "temperature",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(more);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_clima-server"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let written = std::fs::read_to_string(out).unwrap_or_default();
        (o.status.success(), err, written)
    };
    let (ok, err, csv) = export(&dir.path().join("cal.csv"), &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains("4 samples written to") && err.contains("(calibration: offset=10; scale=-2)"),
        "{err}"
    );
    assert_eq!(csv, http);
    let values: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values, raw.map(|v| 10.0 - 2.0 * v));

    let (ok, err, csv) = export(&dir.path().join("raw.csv"), &["--raw"]);
    assert!(ok, "{err}");
    assert!(err.contains("(calibration: none)"), "{err}");
    assert_eq!(csv, http_raw);

    let (ok, err, svg) = export(&dir.path().join("cal.svg"), &["--format", "svg"]);
    assert!(ok, "{err}");
    assert_eq!(svg, http_svg);

    // A raw chart is not offered: said before any file is written.
    let out = dir.path().join("raw.svg");
    let (ok, err, _) = export(&out, &["--format", "svg", "--raw"]);
    assert!(!ok);
    assert!(
        err.contains("--raw writes the stored values as CSV"),
        "{err}"
    );
    assert!(!out.exists());
}
