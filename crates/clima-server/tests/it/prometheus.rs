//! `/metrics` scraped by a real Prometheus (Debian's `prometheus`, started here on a free
//! loopback port with its data in a temp dir) with the token in its `authorization`: its query
//! API returns Clima's series with their labels and values in base units.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{call, free_port, get, post_json, Killed, Server};

const TOKEN: &str = "scrape-s3cret-token";

#[test]
fn prometheus_scrapes_series_in_base_units() {
    let clima = Server::start(&["--serial", "off", "--token", TOKEN]);
    let auth = format!("Bearer {TOKEN}");
    let body = r#"[{"sensor":"attic","name":"Attic \"north\"","temperature":18.5,"humidity":55.25,"pressure":1013.2},
                  {"sensor":"office","co2":612}]"#;
    let r = call(
        "POST",
        &clima.url("/api/v1/readings"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // Same token rule as the rest of the API.
    assert_eq!(get(&clima.url("/metrics")).status, 401);
    let own = call(
        "GET",
        &clima.url("/metrics"),
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(own.status, 200);
    assert!(own
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(
        own.body
            .contains("clima_readings_stored_total{source=\"http\"} 4\n"),
        "{}",
        own.body
    );
    assert_eq!(post_json(&clima.url("/api/v1/readings"), "{}").status, 401);

    let exe = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("prometheus is not installed: run scripts/install-deps test (Debian's prometheus)");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: clima\n    authorization:\n      credentials: {TOKEN}\n    static_configs:\n      - targets: ['{}']\n",
            clima.addr
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new(exe)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let query = |q: &str| -> serde_json::Value {
        let url = format!("http://127.0.0.1:{port}/api/v1/query?query={q}");
        match ureq::get(&url).timeout(Duration::from_secs(2)).call() {
            Ok(r) => serde_json::from_str(&r.into_string().unwrap()).unwrap(),
            Err(_) => serde_json::Value::Null,
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        let v = query("clima_pressure_pascals");
        if let Some(r) = v["data"]["result"].as_array().filter(|r| !r.is_empty()) {
            break r.clone();
        }
        if Instant::now() > deadline {
            panic!(
                "Prometheus has no series: {v}\n{}",
                std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(result[0]["metric"]["sensor"], "attic", "{result:?}");
    assert_eq!(result[0]["metric"]["name"], "Attic \"north\"", "{result:?}");
    assert_eq!(result[0]["value"][1], "101320", "{result:?}");
    for (q, sensor, value) in [
        ("clima_temperature_celsius", "attic", "18.5"),
        ("clima_relative_humidity_percent", "attic", "55.25"),
        ("clima_co2_ppm", "office", "612"),
    ] {
        let r = query(q);
        assert_eq!(
            r["data"]["result"][0]["metric"]["sensor"], sensor,
            "{q}: {r}"
        );
        assert_eq!(r["data"]["result"][0]["value"][1], value, "{q}: {r}");
    }
    let up = query("up");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
}

/// One sample's value in `/metrics`, or None when the exposition has no such line.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_rejections_by_source_and_rate_limited_requests() {
    let clima = Server::start(&["--serial", "off", "--rate-limit", "40/60s"]);
    // One reading stored without its impossible humidity, one refused whole (no valid value).
    let r = post_json(
        &clima.url("/api/v1/readings"),
        r#"[{"sensor":"hall","temperature":21,"humidity":150},{"sensor":"hall","temperature":999}]"#,
    );
    assert_eq!(r.status, 207, "{}", r.body);
    // Line protocol: one good line, two bad ones; then a body with only bad lines.
    let write = |body: &str| {
        call(
            "POST",
            &clima.url("/write?db=x"),
            &[("Content-Type", "text/plain")],
            Some(body.as_bytes()),
        )
    };
    assert_eq!(
        write("climate,room=a temperature=20\nclimate,room=a\nclimate temperature=oops").status,
        400
    );
    assert_eq!(write("nonsense").status, 400);
    let metrics = get(&clima.url("/metrics")).body;
    let value = |series: &str| {
        sample(&metrics, series).unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
    };
    assert_eq!(value("clima_readings_rejected_total{source=\"http\"}"), 2.0);
    assert_eq!(
        value("clima_readings_rejected_total{source=\"line-protocol\"}"),
        3.0
    );
    assert_eq!(value("clima_readings_rejected_total{source=\"push\"}"), 0.0);
    assert_eq!(
        value("clima_readings_stored_total{source=\"line-protocol\"}"),
        1.0
    );
    assert_eq!(value("clima_store_problem"), 0.0);
    assert_eq!(value("clima_http_rate_limited_total"), 0.0);
    assert_eq!(value("clima_http_replies_total{status=\"207\"}"), 1.0);
    assert_eq!(value("clima_http_replies_total{status=\"400\"}"), 2.0);

    // Past the allowance, requests are refused and counted; /healthz is never limited.
    let mut limited = 0;
    for _ in 0..60 {
        if get(&clima.url("/api/v1/sensors")).status == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0, "no request was rate-limited");
    let health = get(&clima.url("/healthz"));
    assert_eq!(health.status, 200);
    // `/metrics` is limited too: scrape once the allowance has refilled, counting the refusals.
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let r = get(&clima.url("/metrics"));
        if r.status == 200 {
            break r.body;
        }
        limited += 1;
        assert!(Instant::now() < deadline, "/metrics stayed rate-limited");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        sample(&metrics, "clima_http_rate_limited_total"),
        Some(limited as f64),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "clima_http_replies_total{status=\"429\"}"),
        Some(limited as f64),
        "{metrics}"
    );
}
