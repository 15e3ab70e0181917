//! MQTT forwarding to a real Mosquitto (Debian's `mosquitto`, started here on a free loopback
//! port) read by a real subscriber (`mosquitto_sub`): Home Assistant discovery configs, retained
//! states, availability that goes `offline` when a sensor turns stale, and a sensor added later.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{free_port, post_json, Killed, Server};

/// Waits until the subscriber's output holds `line`.
fn wait_for(out: &std::path::Path, line: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if text.lines().any(|l| l == line) {
            return text;
        }
        assert!(Instant::now() < deadline, "no {line:?} in:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn mosquitto_subscriber_sees_discovery_states_and_availability() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let _broker = Killed(
        Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("mosquitto.log")).unwrap())
            .spawn()
            .expect(
                "mosquitto is not installed: run scripts/install-deps test (Debian's mosquitto)",
            ),
    );
    let clima = Server::start(&[
        "--serial",
        "off",
        "--forward",
        &format!("mqtt://127.0.0.1:{port}/lab"),
    ]);
    let now = clima_core::now_ms();
    let readings: Vec<String> = (0..3)
        .map(|i| format!(r#"{{"sensor":"attic","name":"Attic","measured_at":{},"temperature":{},"humidity":55}}"#, now - 2000 + i * 1000, 18 + i))
        .collect();
    assert_eq!(
        post_json(
            &clima.url("/api/v1/readings"),
            &format!("[{}]", readings.join(","))
        )
        .status,
        201
    );

    let out = dir.path().join("sub.txt");
    let _sub = Killed(
        Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-v", "-t", "homeassistant/#", "-t", "lab/#"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub is not installed: run scripts/install-deps test (Debian's mosquitto-clients)"),
    );
    // Retained: a subscriber that comes later still gets the latest state of each series.
    wait_for(&out, "lab/attic/temperature 20", Duration::from_secs(20));
    wait_for(&out, "lab/attic/humidity 55", Duration::from_secs(20));
    wait_for(
        &out,
        "lab/attic/availability online",
        Duration::from_secs(20),
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let config = text
        .lines()
        .find_map(|l| l.strip_prefix("homeassistant/sensor/clima_attic_temperature/config "))
        .unwrap_or_else(|| panic!("no discovery config in:\n{text}"));
    let c: serde_json::Value = serde_json::from_str(config).unwrap();
    assert_eq!(c["device_class"], "temperature");
    assert_eq!(c["unit_of_measurement"], "°C");
    assert_eq!(c["state_topic"], "lab/attic/temperature");
    assert_eq!(c["availability_topic"], "lab/attic/availability");
    assert_eq!(c["unique_id"], "clima_attic_temperature");
    assert_eq!(c["device"]["name"], "Attic");

    // A sensor added later appears without a restart.
    let later = format!(
        r#"{{"sensor":"cellar","co2":640,"measured_at":{}}}"#,
        clima_core::now_ms()
    );
    assert_eq!(
        post_json(&clima.url("/api/v1/readings"), &later).status,
        201
    );
    let text = wait_for(&out, "lab/cellar/co2 640", Duration::from_secs(20));
    assert!(
        text.contains("homeassistant/sensor/clima_cellar_co2/config {"),
        "{text}"
    );
    assert!(
        text.contains("\"device_class\":\"carbon_dioxide\""),
        "{text}"
    );

    // The attic's readings came a second apart: silent for 11 s, it is stale, as on the dashboard.
    wait_for(
        &out,
        "lab/attic/availability offline",
        Duration::from_secs(20),
    );
    let f = crate::util::get(&clima.url("/api/v1/forwarders")).json();
    assert_eq!(f["forwarders"][0]["state"], "connected", "{f}");
    assert_eq!(f["forwarders"][0]["kind"], "mqtt", "{f}");
}
