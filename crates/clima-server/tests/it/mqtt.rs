//! MQTT forwarding to a real Mosquitto (Debian's `mosquitto`, started here on a free loopback
//! port) read by a real subscriber (`mosquitto_sub`): Home Assistant discovery configs, retained
//! states, availability that goes `offline` when a sensor turns stale, a sensor added later,
//! `mqtts://` to a TLS listener with a certificate made here (`rcgen`), and an outage of the
//! broker mid-stream.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{free_port, get, post_json, Killed, Server};

/// Waits until the subscriber's output holds `line`.
fn wait_for(out: &Path, line: &str, within: Duration) -> String {
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

/// A Mosquitto on 127.0.0.1 with `settings` added to its config; stopped (SIGTERM, so it saves
/// what it persists) and started again on the same port.
struct Mosquitto {
    port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    fn start(dir: &Path, settings: &str) -> Mosquitto {
        let port = free_port();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{settings}"),
        )
        .unwrap();
        let mut m = Mosquitto {
            port,
            config,
            log: dir.join("mosquitto.log"),
            child: None,
        };
        m.up();
        m
    }

    fn up(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect(
                "mosquitto is not installed: run scripts/install-deps test (Debian's mosquitto)",
            );
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            crate::util::signal(&c, "-TERM");
            let _ = c.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `mosquitto_sub -v` on `topics`, writing to `out`; `extra` for TLS.
fn subscribe(port: u16, topics: &[&str], extra: &[&str], out: &Path) -> Killed {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-v"]);
    for t in topics {
        cmd.args(["-t", t]);
    }
    Killed(
        cmd.args(extra)
            .stdout(std::fs::File::create(out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub is not installed: run scripts/install-deps test (Debian's mosquitto-clients)"),
    )
}

fn forwarders(clima: &Server) -> Vec<serde_json::Value> {
    let f = get(&clima.url("/api/v1/forwarders")).json();
    f["forwarders"].as_array().unwrap().clone()
}

#[test]
fn mosquitto_subscriber_sees_discovery_states_and_availability() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path(), "persistence false\n");
    let port = broker.port;
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
    let _sub = subscribe(port, &["homeassistant/#", "lab/#"], &[], &out);
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
    let f = &forwarders(&clima)[0];
    assert_eq!(f["state"], "connected", "{f}");
    assert_eq!(f["kind"], "mqtt", "{f}");
}

/// A CA and a certificate it signed for 127.0.0.1 and localhost, as PEM files in `dir`:
/// (CA certificate, server certificate, server key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Clima test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    (paths.0, paths.1, paths.2)
}

#[test]
fn mqtts_to_a_broker_with_its_own_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let broker = Mosquitto::start(
        dir.path(),
        &format!(
            "persistence false\ncertfile {}\nkeyfile {}\n",
            cert.display(),
            key.display()
        ),
    );
    let port = broker.port;
    let trusted = format!(
        "mqtts://clima:s3cret@127.0.0.1:{port}/tls?ca={}",
        ca.display()
    );
    // The same broker without its CA: its certificate is refused, so nothing is sent.
    let untrusted = format!("mqtts://127.0.0.1:{port}/public");
    let clima = Server::start(&[
        "--serial",
        "off",
        "--forward",
        &trusted,
        "--forward",
        &untrusted,
    ]);
    let now = clima_core::now_ms();
    let r = post_json(
        &clima.url("/api/v1/readings"),
        &format!(r#"{{"sensor":"vault","measured_at":{now},"temperature":12.5,"co2":800}}"#),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    let out = dir.path().join("sub.txt");
    let ca_arg = ca.display().to_string();
    let _sub = subscribe(
        port,
        &["tls/#", "public/#", "homeassistant/#"],
        &["--cafile", &ca_arg, "--insecure"],
        &out,
    );
    wait_for(&out, "tls/vault/temperature 12.5", Duration::from_secs(20));
    let text = wait_for(&out, "tls/vault/co2 800", Duration::from_secs(20));
    assert!(
        text.contains("homeassistant/sensor/clima_vault_co2/config {"),
        "{text}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let f = loop {
        let f = forwarders(&clima);
        if f[0]["lag_readings"] == 0 && f[1]["errors"].as_u64() > Some(0) {
            break f;
        }
        assert!(Instant::now() < deadline, "{f:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(f[0]["state"], "connected", "{f:?}");
    assert_eq!(
        f[0]["target"],
        format!("mqtts://***@127.0.0.1:{port}/tls?ca={}", ca.display())
    );
    assert_eq!(f[1]["state"], "retrying", "{f:?}");
    let why = f[1]["last_error"].as_str().unwrap();
    assert!(
        why.contains("certificate") && why.contains("?ca=PATH"),
        "{why}"
    );
    assert!(f[1]["lag_readings"].as_i64().unwrap() > 0, "{f:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("public/"), "{text}");
    assert!(!clima.log().contains("s3cret"));

    // A CA file that is not there is refused when the forwarder is added.
    let r = post_json(
        &clima.url("/api/v1/forwarders"),
        &format!(
            r#"{{"url":"mqtts://127.0.0.1:{port}/x?ca={}"}}"#,
            dir.path().join("missing.pem").display()
        ),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_target", "{}", r.body);
    assert!(r.body.contains("missing.pem"), "{}", r.body);
}

#[test]
fn every_series_latest_state_arrives_through_a_broker_outage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Retained messages persist across the broker's restart, as a real installation keeps them.
    let mut broker = Mosquitto::start(
        dir.path(),
        &format!(
            "persistence true\npersistence_location {}/\n",
            data.display()
        ),
    );
    let port = broker.port;
    let clima = Server::start(&[
        "--serial",
        "off",
        "--rate-limit",
        "off",
        "--forward",
        &format!("mqtt://127.0.0.1:{port}/site"),
    ]);
    let start = clima_core::now_ms() - 120_000;
    let mut posted = 0;
    for round in 0..12 {
        if round == 4 {
            broker.stop();
        }
        if round == 8 {
            let f = &forwarders(&clima)[0];
            assert_eq!(f["state"], "retrying", "{f}");
            assert!(f["lag_readings"].as_i64().unwrap() > 0, "{f}");
            broker.up();
        }
        // Sensor s0 falls silent during the outage: its latest state is in the backlog only.
        let sensors: Vec<usize> = (0..5).filter(|k| *k > 0 || round < 6).collect();
        let mut items = Vec::new();
        for k in sensors {
            for i in 0..20 {
                let n = round * 20 + i;
                items.push(format!(
                    r#"{{"sensor":"s{k}","measured_at":{},"temperature":{},"humidity":{}}}"#,
                    start + n * 400 + k as i64,
                    10.0 + k as f64 + n as f64 / 100.0,
                    30.0 + n as f64 / 10.0,
                ));
            }
        }
        posted += items.len();
        let r = post_json(
            &clima.url("/api/v1/readings"),
            &format!("[{}]", items.join(",")),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        std::thread::sleep(Duration::from_millis(150));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let f = loop {
        let f = forwarders(&clima)[0].clone();
        if f["lag_readings"] == 0 && f["state"] == "connected" {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "not drained: {f}\n{}",
            clima.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(f["errors"].as_u64().unwrap() > 0, "{f}");
    // Temperature and humidity of each reading, at least (dew point and absolute humidity too).
    assert!(f["delivered"].as_u64().unwrap() >= 2 * posted as u64, "{f}");

    // Every series' latest value in Clima, as the broker's retained state.
    let sensors = get(&clima.url("/api/v1/sensors")).json();
    let mut want = BTreeMap::new();
    for s in sensors["sensors"].as_array().unwrap() {
        for m in s["metrics"].as_array().unwrap() {
            let topic = format!(
                "site/{}/{}",
                s["sensor"].as_str().unwrap(),
                m["metric"].as_str().unwrap()
            );
            want.insert(topic, m["value"].as_f64().unwrap());
        }
    }
    assert_eq!(want.len(), 5 * 4, "{sensors}");
    let out = dir.path().join("sub.txt");
    let _sub = subscribe(port, &["site/#", "homeassistant/#"], &[], &out);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let got: BTreeMap<&str, f64> = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(t, v)| Some((t, v.parse().ok()?)))
            .collect();
        let wrong: Vec<_> = want
            .iter()
            .filter(|(t, v)| got.get(t.as_str()).is_none_or(|g| (g - *v).abs() > 1e-9))
            .collect();
        let configs = text
            .lines()
            .filter(|l| l.starts_with("homeassistant/sensor/clima_s"))
            .count();
        if wrong.is_empty() && configs >= want.len() {
            // s0's last reading, posted while the broker was down.
            assert!((got["site/s0/temperature"] - 11.19).abs() < 1e-9, "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "states missing or stale: {wrong:?}\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
