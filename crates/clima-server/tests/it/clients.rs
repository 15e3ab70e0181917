//! The InfluxDB client libraries people run write to Clima unchanged: Python's `influxdb` (1.x,
//! `/write` with user and password) and `influxdb-client` (2.x, `/api/v2/write` with
//! `Authorization: Token`), plain and gzip-compressed.

use std::process::Command;

use crate::util::{stored_count_with_token, Server};

#[test]
fn python_influxdb_clients_v1_and_v2_plain_and_gzip() {
    let token = "client-token-1234";
    let s = Server::start(&["--serial", "off", "--token", token]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/influx_clients.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(s.addr.ip().to_string())
        .arg(s.addr.port().to_string())
        .arg(token)
        .output()
        .expect("python3 runs (scripts/install-deps test installs the client libraries)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the clients failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    for sensor in ["v1-plain", "v1-gzip"] {
        assert_eq!(
            stored_count_with_token(&s, sensor, "temperature", Some(token)),
            10,
            "{sensor}"
        );
        assert_eq!(
            stored_count_with_token(&s, sensor, "humidity", Some(token)),
            10,
            "{sensor}"
        );
    }
    // The values and times read back are the ones the clients sent (2026-11-20T12:0i:00Z).
    for (sensor, metric, first, step) in [
        ("v1-gzip", "temperature", 20.0, 0.1),
        ("v1-plain", "humidity", 40.0, 1.0),
        ("v2-gzip", "temperature", 21.0, 0.1),
        ("v2-plain", "co2", 600.0, 1.0),
    ] {
        let r = crate::util::call(
            "GET",
            &s.url(&format!(
                "/api/v1/export.csv?sensor={sensor}&metric={metric}&from=2026-11-20T12:00:00Z&to=2026-11-20T12:10:00Z"
            )),
            &[("Authorization", &format!("Bearer {token}"))],
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let rows: Vec<(String, f64)> = r
            .body
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[3].to_owned(), f[5].parse().unwrap())
            })
            .collect();
        assert_eq!(rows.len(), 10, "{sensor} {metric}: {}", r.body);
        for (i, (at, value)) in rows.iter().enumerate() {
            assert_eq!(at, &format!("2026-11-20T12:{i:02}:00.000Z"), "{sensor}");
            let want = first + step * i as f64;
            assert!(
                (value - want).abs() < 1e-9,
                "{sensor} {metric} {i}: {value} != {want}"
            );
        }
    }
    for sensor in ["v2-plain", "v2-gzip"] {
        assert_eq!(
            stored_count_with_token(&s, sensor, "temperature", Some(token)),
            10,
            "{sensor}"
        );
        assert_eq!(
            stored_count_with_token(&s, sensor, "co2", Some(token)),
            10,
            "{sensor}"
        );
    }
}
