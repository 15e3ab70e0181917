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
