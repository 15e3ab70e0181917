//! The `clima-sim` binary against an in-process engine on 127.0.0.1: a board on a pty read
//! through its link, and a fleet of network sensors.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clima_core::serial::{PinnedPort, SerialConfig};
use clima_core::{Engine, EngineConfig};

fn engine(dir: &tempfile::TempDir, serial: SerialConfig) -> Engine {
    let mut cfg = EngineConfig::new(dir.path().join("sim.db"));
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.rate_limit = None;
    cfg.serial = serial;
    Engine::start(cfg).unwrap()
}

#[test]
fn board_prints_to_its_link() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("dht");
    let mut sim = Command::new(env!("CARGO_BIN_EXE_clima-sim"))
        .args([
            "board", "--format", "dht", "--rate", "20", "--noise", "--link",
        ])
        .arg(&link)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("/dev/pts/"), "{line}");
    let e = engine(
        &dir,
        SerialConfig {
            auto: false,
            pinned: vec![PinnedPort {
                path: link.clone(),
                baud: None,
            }],
        },
    );
    // What the board sent: Clima adds the dew point and absolute humidity it derives from them.
    let sent = |s: &clima_core::store::SensorInfo| -> Vec<String> {
        let metrics = s.metrics.iter().filter(|m| !m.derived);
        metrics.map(|m| m.metric.clone()).collect()
    };
    let start = Instant::now();
    let sensors = loop {
        let s = e.reader().sensors().unwrap();
        if s.first().is_some_and(|s| sent(s).len() == 2) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no readings from the board"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(sensors[0].sensor, "serial-dht");
    assert_eq!(
        sent(&sensors[0]),
        ["humidity", "temperature"],
        "no Fahrenheit copy, no heat index"
    );
    let temperature = sensors[0]
        .metrics
        .iter()
        .find(|m| m.metric == "temperature");
    let t = temperature.unwrap().value.unwrap();
    assert!((15.0..30.0).contains(&t), "{t}");
    // Past a few cut lines (one in 17 with --noise), still only the two real metrics.
    while e.api().ports()[0].lines_parsed < 40 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the board stopped being read"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        sent(&e.reader().sensors().unwrap()[0]),
        ["humidity", "temperature"]
    );
    Command::new("kill")
        .arg(sim.id().to_string())
        .status()
        .unwrap();
    sim.wait().unwrap();
    assert!(
        !link.exists(),
        "the link is removed when the board is unplugged"
    );
    e.shutdown();
}

#[test]
fn post_fleet_reaches_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir, SerialConfig::default());
    let out = Command::new(env!("CARGO_BIN_EXE_clima-sim"))
        .args([
            "post",
            "--url",
            &format!("http://{}", e.local_addr()),
            "--sensors",
            "3",
            "--rate",
            "10",
            "--duration",
            "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let accepted: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
    assert!(accepted >= 15, "{text}");
    assert!(text.contains(" 0 failed"), "{text}");
    let sensors = e.reader().sensors().unwrap();
    let ids: Vec<&str> = sensors.iter().map(|s| s.sensor.as_str()).collect();
    assert_eq!(ids, ["sim-0", "sim-1", "sim-2"]);
    assert_eq!(sensors[0].name.as_deref(), Some("Simulated room 0"));
    e.shutdown();
}
