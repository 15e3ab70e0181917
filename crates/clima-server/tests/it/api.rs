//! The HTTP API against a live server: every ingest form, every error status, auth, rate
//! limiting and dedupe.

use std::io::Write;
use std::net::IpAddr;

use crate::util::*;

#[test]
fn json_batch_with_three_time_forms() {
    let s = Server::start(&[]);
    let r = post_json(&s.url("/api/v1/readings"), &fixture("http/batch.json"));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["accepted"], 3);
    let sensors = get(&s.url("/api/v1/sensors")).json();
    let garage = sensors["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["sensor"] == "garage")
        .unwrap();
    assert_eq!(garage["name"], "Garage (north wall)");
    assert_eq!(garage["source"], "http");
    assert_eq!(garage["metrics"][0]["metric"], "temperature");
    assert_eq!(garage["metrics"][0]["value"], 6.2);
    assert_eq!(garage["metrics"][0]["unit"], "°C");
    assert_eq!(garage["metrics"][0]["measured_at"], 1_795_683_660_000i64);
    assert_eq!(stored_count(&s, "kitchen", "humidity"), 2);
}

#[test]
fn seed_device_unchanged_with_bearer_token() {
    let s = Server::start(&["--token", "seed-token-123"]);
    let body = fixture("http/seed-device.json");
    let auth = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer seed-token-123"),
    ];
    let r = call(
        "POST",
        &s.url("/api/v1/readings"),
        &auth,
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // No sensor in the body or query: the device is named by its address.
    let sensors = call("GET", &s.url("/api/v1/sensors"), &auth[1..], None).json();
    let seed = &sensors["sensors"][0];
    assert_eq!(seed["sensor"], "ip-127-0-0-1");
    let metrics: Vec<(String, f64)> = seed["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["metric"].as_str().unwrap().to_owned(),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(
        metrics.contains(&("pressure".into(), 1008.12)),
        "{metrics:?}"
    );
    assert!(metrics.contains(&("dew_point".into(), 10.6)), "{metrics:?}");
    assert!(metrics.contains(&("iaq".into(), 51.2)), "{metrics:?}");
    // ?sensor= names it instead.
    let r = call(
        "POST",
        &s.url("/api/v1/readings?sensor=lab-1"),
        &auth,
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        stored_count_with_token(&s, "lab-1", "temperature", Some("seed-token-123")),
        1
    );
}

#[test]
fn shelly_push_url() {
    let s = Server::start(&[]);
    let line = fixture("http/shelly-ht-gen1.txt");
    let path = line.split_whitespace().nth(1).unwrap();
    let r = get(&s.url(path));
    assert_eq!(r.status, 200, "{}", r.body);
    let sensors = get(&s.url("/api/v1/sensors")).json();
    let shelly = &sensors["sensors"][0];
    assert_eq!(shelly["sensor"], "shellyht-00EB85");
    assert_eq!(shelly["source"], "push");
    let value = |name: &str| {
        let metrics = shelly["metrics"].as_array().unwrap();
        metrics
            .iter()
            .find(|m| m["metric"] == name)
            .and_then(|m| m["value"].as_f64())
    };
    assert_eq!(value("humidity"), Some(23.0));
    assert_eq!(value("temperature"), Some(-5.38));
    // With temperature and humidity, Clima adds the dew point (see `derived`).
    assert!(value("dew_point").is_some());
    let bad = get(&s.url("/api/v1/push?id=x&temp=hot"));
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["rejected"][0]["field"], "temp");
}

#[test]
fn telegraf_style_line_protocol() {
    let s = Server::start(&["--token", "telegraf-secret"]);
    // Telegraf creates its database first, then writes gzip bodies with basic auth.
    let basic = "Basic dGVsZWdyYWY6dGVsZWdyYWYtc2VjcmV0"; // telegraf:telegraf-secret
    let r = call(
        "POST",
        &s.url("/query"),
        &[
            ("Authorization", basic),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(b"q=CREATE+DATABASE+%22telegraf%22"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let lines = fixture("serial/influx-line-protocol.txt");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(lines.as_bytes()).unwrap();
    let body = gz.finish().unwrap();
    let headers = [
        ("Authorization", basic),
        ("Content-Encoding", "gzip"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ];
    let r = call(
        "POST",
        &s.url("/write?db=telegraf&precision=ns"),
        &headers,
        Some(&body),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = call(
        "POST",
        &s.url("/write?precision=s"),
        &[("Authorization", basic)],
        Some(b"climate,room=attic humidity=54.0 1795687320"),
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        stored_count_with_token(&s, "climate.attic", "humidity", Some("telegraf-secret")),
        3
    );
    // A partial write stores the good lines and answers 400 like InfluxDB.
    let r = call(
        "POST",
        &s.url("/write"),
        &[("Authorization", basic)],
        Some(b"climate,room=attic humidity=53 1795687380000000000\nbroken line\n"),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["rejected"][0]["index"], 2);
    assert_eq!(
        stored_count_with_token(&s, "climate.attic", "humidity", Some("telegraf-secret")),
        4
    );
    let r = call(
        "POST",
        &s.url("/write?precision=weeks"),
        &[("Authorization", basic)],
        Some(b"c t=1"),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn rejections_and_partial_batches() {
    let s = Server::start(&[]);
    let url = s.url("/api/v1/readings");
    let r = post_json(&url, r#"{"sensor":"bench","temperature":"n/a"}"#);
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["rejected"][0]["field"], "temperature");
    for (body, field) in [
        (r#"{"sensor":"a","temperature":1e400}"#, "temperature"),
        (r#"{"sensor":"a","temperature":999}"#, "temperature"),
        (r#"{"sensor":"a","humidity":100.5}"#, "humidity"),
        (r#"{"sensor":"a b","humidity":1}"#, "sensor"),
    ] {
        let r = post_json(&url, body);
        assert_eq!(r.status, 422, "{body}");
        assert_eq!(r.json()["rejected"][0]["field"], field, "{body}");
        assert!(
            r.json()["message"].as_str().unwrap().contains(field),
            "{}",
            r.body
        );
    }
    let mixed = r#"[{"sensor":"bench","temperature":21.8},{"sensor":"bench","humidity":-4},{"sensor":"bench","humidity":40}]"#;
    let r = post_json(&url, mixed);
    assert_eq!(r.status, 207, "{}", r.body);
    let v = r.json();
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["rejected"][0]["index"], 1);
    assert_eq!(v["rejected"][0]["field"], "humidity");
    assert_eq!(stored_count(&s, "bench", "humidity"), 1);
    assert_eq!(stored_count(&s, "bench", "temperature"), 1);
}

#[test]
fn error_statuses() {
    let s = Server::start(&[]);
    let r = get(&s.url("/api/v1/nope"));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("not_found"))
    );
    let r = call("DELETE", &s.url("/api/v1/readings"), &[], None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, POST"));
    let r = call(
        "POST",
        &s.url("/api/v1/readings"),
        &[("Content-Type", "text/csv")],
        Some(b"a,b"),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let huge = format!(
        "[{}]",
        vec![r#"{"sensor":"x","temperature":20.123456789}"#; 30_000].join(",")
    );
    assert!(huge.len() > 1024 * 1024);
    let r = post_json(&s.url("/api/v1/readings"), &huge);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (413, Some("body_too_large"))
    );
    let r = post_json(&s.url("/api/v1/readings"), "{not json");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_body"))
    );
    let many = format!("[{}]", vec![r#"{"t":1}"#; 10_001].join(","));
    assert_eq!(post_json(&s.url("/api/v1/readings"), &many).status, 413);
    let r = get(&s.url("/api/v1/readings?sensor=nobody&metric=temperature"));
    assert_eq!(r.status, 404);
    let r = get(&s.url("/api/v1/readings?metric=temperature"));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("missing_sensor"))
    );
    let r = get(&s.url("/api/v1/readings?sensor=a&metric=t&from=yesterday"));
    assert_eq!(r.status, 400);
    // The server is still fine after all that.
    assert_eq!(get(&s.url("/healthz")).status, 200);
}

#[test]
fn token_guards_everything_but_healthz() {
    let s = Server::start(&["--token", "correct-horse"]);
    assert_eq!(get(&s.url("/healthz")).status, 200);
    let r = get(&s.url("/api/v1/sensors"));
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").is_some());
    assert_eq!(
        call(
            "GET",
            &s.url("/api/v1/sensors"),
            &[("Authorization", "Bearer wrong-horse")],
            None
        )
        .status,
        401
    );
    assert_eq!(
        call(
            "GET",
            &s.url("/api/v1/sensors"),
            &[("Authorization", "Bearer correct-horse")],
            None
        )
        .status,
        200
    );
    assert_eq!(
        get(&s.url("/api/v1/push?id=p&temp=20&token=correct-horse")).status,
        200
    );
    assert_eq!(
        get(&s.url("/api/v1/push?id=p&temp=20&token=nope")).status,
        401
    );
    assert_eq!(
        post_json(&s.url("/api/v1/readings"), r#"{"temperature":1}"#).status,
        401
    );
    // The token never reaches the log, whichever way it was sent.
    let log = s.log();
    assert!(log.contains("/api/v1/push"), "requests are logged");
    assert!(!log.contains("correct-horse"), "token leaked into the log");
}

#[test]
fn rate_limit_per_client_address() {
    let s = Server::start(&["--rate-limit", "5/10s"]);
    let req = "GET /api/v1/sensors HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let a: IpAddr = "127.0.0.1".parse().unwrap();
    let b: IpAddr = "127.0.0.2".parse().unwrap();
    for i in 0..5 {
        assert_eq!(raw_from(a, s.addr, req).0, 200, "request {i}");
    }
    let (status, text) = raw_from(a, s.addr, req);
    assert_eq!(status, 429, "{text}");
    let retry: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Retry-After: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("Retry-After header");
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(text.contains("\"rate_limited\""));
    // Another client is not slowed by the first one's flood.
    assert_eq!(raw_from(b, s.addr, req).0, 200);
    // Health checks are never limited.
    assert_eq!(
        raw_from(
            a,
            s.addr,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .0,
        200
    );
}

#[test]
fn resent_backlog_is_stored_once() {
    let s = Server::start(&[]);
    let body = r#"[{"sensor":"d","temperature":20.5,"measured_at":1795683600},{"sensor":"d","temperature":20.7,"measured_at":1795683660}]"#;
    let first = post_json(&s.url("/api/v1/readings"), body).json();
    assert_eq!(first["duplicates"], 0);
    let again = post_json(&s.url("/api/v1/readings"), body).json();
    assert_eq!(again["accepted"], 2);
    assert_eq!(again["duplicates"], 2);
    // The same instant in milliseconds is the same reading too.
    post_json(
        &s.url("/api/v1/readings"),
        r#"{"sensor":"d","temperature":99.0,"measured_at":1795683600000}"#,
    );
    assert_eq!(stored_count(&s, "d", "temperature"), 2);
    let r = get(&s.url(
        "/api/v1/readings?sensor=d&metric=temperature&from=1795683600&to=1795683720&points=2",
    ))
    .json();
    assert_eq!(r["points"][0]["mean"], 20.5, "the first value stays");
}

#[test]
fn range_downsamples_with_gaps() {
    let s = Server::start(&[]);
    // 0..60 min, one reading a minute, with minutes 20..40 missing.
    let base = 1_795_680_000i64;
    let items: Vec<String> = (0..60)
        .filter(|m| !(20..40).contains(m))
        .map(|m| {
            format!(
                r#"{{"sensor":"r","temperature":{},"measured_at":{}}}"#,
                m,
                base + m * 60
            )
        })
        .collect();
    post_batch(&s, &items);
    let r = get(&s.url(&format!(
        "/api/v1/readings?sensor=r&metric=temperature&from={base}&to={}&points=6",
        base + 3600
    )))
    .json();
    assert_eq!(r["bucket_ms"], 600_000);
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert_eq!(points[0]["count"], 10);
    assert_eq!(points[0]["mean"], 4.5);
    assert_eq!(points[0]["min"], 0.0);
    assert_eq!(points[0]["max"], 9.0);
    assert_eq!(points[2]["count"], 0);
    assert!(points[2]["mean"].is_null(), "a gap is visible");
    assert_eq!(points[5]["max"], 59.0);
}

#[test]
fn per_sensor_retention_is_checked() {
    let s = Server::start(&[]);
    post_json(
        &s.url("/api/v1/readings"),
        r#"{"sensor":"attic","temperature":20}"#,
    );
    let url = s.url("/api/v1/sensors/retention");
    assert_eq!(
        post_json(
            &url,
            r#"{"sensor":"attic","keep_raw":"90d","keep_minute":"forever"}"#
        )
        .status,
        200
    );
    let r = post_json(&url, r#"{"sensor":"attic","keep_raw":"a while"}"#);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_duration"))
    );
    assert_eq!(
        post_json(&url, r#"{"sensor":"cellar","keep_raw":"1d"}"#).status,
        404
    );
}

#[test]
fn conflicts_refused_fields_and_numbers_sent_as_strings() {
    let s = Server::start(&["--serial", "off"]);
    let post = |body: &str| post_json(&s.url("/api/v1/readings"), body);
    let t = "2026-11-20T12:00:00Z";
    let r = post(&format!(
        r#"{{"sensor":"k","temperature":21.5,"measured_at":"{t}"}}"#
    ));
    assert_eq!(
        (r.status, r.json()["conflicts"].as_u64()),
        (201, Some(0)),
        "{}",
        r.body
    );
    // The same again is a resend; another value at that time is a conflict, and stays out.
    let r = post(&format!(
        r#"{{"sensor":"k","temperature":21.5,"measured_at":"{t}"}}"#
    ));
    assert_eq!(
        (
            r.json()["duplicates"].as_u64(),
            r.json()["conflicts"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let r = post(&format!(
        r#"{{"sensor":"k","temperature":22.5,"measured_at":"{t}"}}"#
    ));
    let v = r.json();
    assert_eq!(
        (r.status, v["duplicates"].as_u64(), v["conflicts"].as_u64()),
        (201, Some(0), Some(1)),
        "{v}"
    );
    assert_eq!(
        (
            v["conflicting"][0]["stored"].as_f64(),
            v["conflicting"][0]["sent"].as_f64()
        ),
        (Some(21.5), Some(22.5))
    );
    // Two names for one metric on one reading, with two values: a conflict too.
    let r =
        post(r#"{"sensor":"k","temp":24,"temperature":25,"measured_at":"2026-11-20T12:02:00Z"}"#);
    assert_eq!(r.json()["conflicts"], 1, "{}", r.body);
    // One bad field leaves the others; a number in a string is a number.
    let r = post(
        r#"{"sensor":"k","temperature":"23.000000","humidity":140,"measured_at":"2026-11-20T12:01:00Z"}"#,
    );
    let v = r.json();
    assert_eq!((r.status, v["accepted"].as_u64()), (201, Some(1)), "{v}");
    assert_eq!(v["rejected"][0]["field"], "humidity", "{v}");
    // Line protocol: a conflict is counted in a header of the 204; a refused field makes the
    // answer a partial write (400), the rest of the line stored.
    let write = |body: &[u8]| {
        call(
            "POST",
            &s.url("/write?precision=s"),
            &[("Content-Type", "text/plain")],
            Some(body),
        )
    };
    assert_eq!(
        write(b"climate,room=lab temperature=20 1795176000").status,
        204
    );
    let r = write(b"climate,room=lab temperature=99 1795176000");
    assert_eq!(
        (r.status, r.header("X-Clima-Conflicts")),
        (204, Some("1")),
        "{}",
        r.body
    );
    let r = write(b"\nclimate,room=lab temperature=21,humidity=140 1795176060");
    let v = r.json();
    assert_eq!((r.status, v["accepted"].as_u64()), (400, Some(1)), "{v}");
    assert_eq!(v["rejected"][0]["field"], "humidity", "{v}");
    assert_eq!(v["rejected"][0]["index"], 2, "the line number: {v}");
    assert_eq!(stored_count(&s, "climate.lab", "temperature"), 2);
    // What is stored is what is shown: the first value at each time.
    let r = get(&s.url("/api/v1/readings?sensor=k&metric=temperature&from=2026-11-20T12:00:00Z&to=2026-11-20T12:03:00Z&points=3"));
    let means: Vec<f64> = r.json()["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["mean"].as_f64().unwrap())
        .collect();
    assert_eq!(means, [21.5, 23.0, 24.0]);
    let sensors = get(&s.url("/api/v1/sensors")).json();
    let k = sensors["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["sensor"] == "k")
        .unwrap();
    assert_eq!(k["metrics"][0]["value"], 24.0, "{sensors}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_gzip_batch_may_inflate_past_a_mebibyte_but_a_bomb_is_refused() {
    let s = Server::start(&["--serial", "off", "--rate-limit", "off"]);
    // About 5 MB of line protocol, well under 1 MiB compressed: InfluxDB takes it, so does Clima.
    let start = 1_795_176_000_i64;
    let lines: String = (0..100_000)
        .map(|i| {
            format!(
                "climate,sensor=big temperature={}.25,humidity=40.5 {}\n",
                15 + i % 10,
                start + i
            )
        })
        .collect();
    let body = gzip(lines.as_bytes());
    assert!(
        lines.len() > 4 * 1024 * 1024 && body.len() < 1024 * 1024,
        "{} -> {}",
        lines.len(),
        body.len()
    );
    let headers = [("Content-Encoding", "gzip"), ("Content-Type", "text/plain")];
    let r = call("POST", &s.url("/write?precision=s"), &headers, Some(&body));
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(stored_count(&s, "big", "temperature"), 100_000);
    // 64 MiB of zeros, about 64 KiB compressed: refused without being inflated past the cap.
    let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
    let r = call("POST", &s.url("/write"), &headers, Some(&bomb));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (413, Some("body_too_large")),
        "{}",
        r.body
    );
    assert_eq!(get(&s.url("/healthz")).status, 200);
}

#[test]
fn each_line_protocol_series_is_its_own_sensor_and_old_databases_keep_theirs() {
    // A database written by the release before series identity, where `climate,room=attic`
    // and `climate,host=attic` both went into `climate.attic` (made with that release's
    // clima-server; see tests/data/README.md).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/before-series-identity.db"
        ),
        &db,
    )
    .unwrap();
    let s = Server::start_on(&db, &["--serial", "off"]);
    let write = |lines: &str| {
        let r = call(
            "POST",
            &s.url("/write?precision=s"),
            &[],
            Some(lines.as_bytes()),
        );
        assert_eq!(r.status, 204, "{}", r.body);
    };
    write("climate,room=attic temperature=18.5 1795176120\nclimate,host=attic temperature=31 1795176120\nclimate,room=attic,floor=2 temperature=17 1795176120");
    let sensors = get(&s.url("/api/v1/sensors")).json();
    let list = sensors["sensors"].as_array().unwrap();
    let find = |f: &dyn Fn(&serde_json::Value) -> bool| {
        list.iter().filter(|x| f(x)).cloned().collect::<Vec<_>>()
    };
    // The first series to come back takes over the old sensor, with its history.
    let attic = &find(&|x| x["sensor"] == "climate.attic")[0];
    assert_eq!(attic["series"]["tags"]["room"], "attic", "{sensors}");
    assert_eq!(
        stored_count(&s, "climate.attic", "temperature"),
        3,
        "two old samples and the new one"
    );
    // Another series with the same readable id gets its own sensor, its id marked apart.
    let host = find(&|x| x["series"]["tags"]["host"] == "attic");
    assert_eq!(host.len(), 1, "{sensors}");
    let host_id = host[0]["sensor"].as_str().unwrap();
    assert!(
        host_id.starts_with("climate.attic-") && host_id.len() == "climate.attic-".len() + 8,
        "{host_id}"
    );
    assert_eq!(host[0]["metrics"][0]["value"], 31.0);
    let two = find(&|x| x["series"]["tags"]["floor"] == "2");
    assert_eq!(two[0]["sensor"], "climate.2.attic", "{sensors}");
    // The same series again finds its own sensor; sensors of other formats are untouched.
    write("climate,host=attic temperature=32 1795176180");
    assert_eq!(stored_count(&s, host_id, "temperature"), 2);
    assert_eq!(stored_count(&s, "kitchen", "temperature"), 1);
    assert_eq!(stored_count(&s, "weather.roof", "temperature"), 1);
    // A sensor named by JSON keeps its name: a series whose readable id it is goes apart.
    let r = post_json(
        &s.url("/api/v1/readings"),
        r#"{"sensor":"lab.bench","temperature":20}"#,
    );
    assert_eq!(r.status, 201);
    write("lab,room=bench temperature=25");
    assert_eq!(stored_count(&s, "lab.bench", "temperature"), 1);
}
