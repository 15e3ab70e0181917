//! The serial corpus (real sketches' and firmwares' output, crates/clima-model/tests/data/
//! serial/corpus/) played line by line through real pseudo-terminals into one live server, each
//! fixture's stored series checked against the exact values it lists.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

use crate::util::*;

/// One fixture on its own pseudo-terminal, reached through a link named after the fixture.
struct Board {
    stem: String,
    link: PathBuf,
    master: TTYPort,
    text: String,
}

impl Board {
    fn open(dir: &Path, fixture: &Path) -> Board {
        let (master, slave) = TTYPort::pair().expect("a pseudo-terminal");
        let path = slave.name().expect("the pty's name");
        // Nobody holds the slave end until the server opens it, as with a real port.
        drop(slave);
        let stem = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let link = dir.join(&stem);
        std::os::unix::fs::symlink(path, &link).unwrap();
        Board {
            stem,
            link,
            master,
            text: std::fs::read_to_string(fixture).unwrap(),
        }
    }

    /// The fixture's expected series, named as the server stores them: `(sensor, metric)`.
    fn expected(&self) -> BTreeMap<(String, String), Vec<f64>> {
        let board = format!("serial-{}", self.stem);
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|l| {
                let mut words = l.split_whitespace();
                let series = words.next().unwrap();
                let (sensor, metric) = match series.split_once('/') {
                    Some((probe, metric)) => (format!("{board}.{probe}"), metric),
                    None => (board.clone(), series),
                };
                let values = words.map(|w| w.parse().unwrap()).collect();
                ((sensor, metric.to_owned()), values)
            })
            .collect()
    }

    /// Writes the fixture's lines as a board prints them: CRLF, a little apart.
    fn play(mut self) {
        for line in self.text.lines().filter(|l| !l.starts_with("# ")) {
            self.master
                .write_all(format!("{line}\r\n").as_bytes())
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        // Keep the port open until the server has read everything.
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// Every raw value of one series, in time order, from the CSV export.
fn stored(s: &Server, sensor: &str, metric: &str) -> Vec<f64> {
    let r = get(&s.url(&format!(
        "/api/v1/export.csv?sensor={sensor}&metric={metric}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
    )));
    if r.status == 404 {
        return Vec::new();
    }
    assert_eq!(r.status, 200, "{sensor}/{metric}: {}", r.body);
    r.body
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect()
}

fn series(s: &Server) -> Vec<String> {
    let sensors = get(&s.url("/api/v1/sensors")).json();
    let mut out = Vec::new();
    for sensor in sensors["sensors"].as_array().unwrap() {
        for m in sent_metrics(sensor) {
            out.push(format!(
                "{}/{}",
                sensor["sensor"].as_str().unwrap(),
                m["metric"].as_str().unwrap()
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn serial_corpus_played_through_ports_stores_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let corpus =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clima-model/tests/data/serial/corpus");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fixtures.sort();
    let boards: Vec<Board> = fixtures
        .iter()
        .map(|f| Board::open(dir.path(), f))
        .collect();
    // A fixed rate: a pty has none, and hunting would start a board's parser over.
    let specs: Vec<String> = boards
        .iter()
        .map(|b| format!("{}@115200", b.link.display()))
        .collect();
    // The test polls every series many times a second.
    let mut args = vec!["--rate-limit", "100000/1s"];
    for spec in &specs {
        args.extend(["--serial", spec.as_str()]);
    }
    let s = Server::start(&args);
    let start = Instant::now();
    loop {
        let ports = get(&s.url("/api/v1/ports")).json();
        let ports = ports["ports"].as_array().unwrap();
        let connected = ports.iter().filter(|p| p["status"] == "connected").count();
        if connected == boards.len() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{connected} of {} ports connected",
            boards.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for b in &boards {
        if let Some(settings) = b.text.lines().find_map(|l| l.strip_prefix("# settings: ")) {
            let mut body: serde_json::Value = serde_json::from_str(settings).unwrap();
            body["id"] = b.link.to_str().unwrap().into();
            let r = post_json(&s.url("/api/v1/ports/settings"), &body.to_string());
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    let expected: BTreeMap<_, _> = boards.iter().flat_map(Board::expected).collect();
    let players: Vec<_> = boards
        .into_iter()
        .map(|b| std::thread::spawn(move || b.play()))
        .collect();
    // Blocks end when a board goes quiet (1.5 s), so wait for every value to be stored.
    let start = Instant::now();
    let mut missing: Vec<String> = Vec::new();
    while start.elapsed() < Duration::from_secs(20) {
        missing = expected
            .iter()
            .filter(|((sensor, metric), want)| stored(&s, sensor, metric).len() < want.len())
            .map(|((sensor, metric), _)| {
                let r = get(&s.url(&format!(
                    "/api/v1/export.csv?sensor={sensor}&metric={metric}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
                )));
                format!("{sensor}/{metric} ({} {})", r.status, r.body.lines().count())
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for p in players {
        p.join().unwrap();
    }
    let all = series(&s);
    if !missing.is_empty() {
        let ports = get(&s.url("/api/v1/ports")).json();
        panic!("not stored: {missing:?}\nstored: {all:?}\nports: {ports:#}");
    }
    for ((sensor, metric), want) in &expected {
        // Converted values (°F, Pa) carry float noise past the sixth decimal.
        let got: Vec<f64> = stored(&s, sensor, metric)
            .iter()
            .map(|v| (v * 1e6).round() / 1e6)
            .collect();
        assert_eq!(&got, want, "{sensor}/{metric}");
    }
    // Nothing else became a series: no banners, no counters, no °F twins.
    let want: Vec<String> = expected
        .keys()
        .map(|(sensor, metric)| format!("{sensor}/{metric}"))
        .collect();
    assert_eq!(all, want);
}
