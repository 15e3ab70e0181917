//! Serial benchmark (`cargo bench -p clima-core --bench serial`): lines per second one port's
//! framer and parser sustain for each format, and the latency from a line written to a
//! pseudo-terminal to its reading on the hub.

use std::io::Write;
use std::time::{Duration, Instant};

use clima_core::hub::Hub;
use clima_core::serial::{PinnedPort, SerialBoards, SerialConfig};
use clima_core::sim::{render, BoardFormat, Climate};
use clima_core::store::{open, spawn_writer, WriterConfig};
use clima_model::serial::{LineFramer, LineOutcome, SerialParser};
use clima_model::SensorId;
use serialport::{SerialPort, TTYPort};

const LINES: u64 = 200_000;

fn parser_throughput() {
    println!(
        "## Parser throughput (framer + format detection + normalisation), {LINES} lines each"
    );
    println!("| format | lines/s | readings/s |");
    println!("|---|---:|---:|");
    for name in ["plotter", "json", "csv", "dht", "bme280", "sht31", "influx"] {
        let format: BoardFormat = name.parse().unwrap();
        let mut climate = Climate::new(3);
        let mut text = Vec::new();
        for tick in 0..LINES {
            climate.step();
            text.extend_from_slice(
                render(
                    format,
                    &climate,
                    tick,
                    Some("bench"),
                    1_795_700_000_000_000_000,
                )
                .as_bytes(),
            );
        }
        let lines = text.iter().filter(|b| **b == b'\n').count() as f64;
        let mut framer = LineFramer::new();
        let mut parser = SerialParser::new(SensorId::parse("bench").unwrap());
        let start = Instant::now();
        let mut readings = 0u64;
        // Feed in 256-byte chunks, as a port read returns them.
        for chunk in text.chunks(256) {
            for line in framer.push(chunk) {
                if let LineOutcome::Readings(r) = parser.parse_line(&line, 1_795_700_000_000) {
                    readings += r.len() as u64;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "| {name} | {:.0} | {:.0} |",
            lines / secs,
            readings as f64 / secs
        );
    }
}

fn pty_to_hub_latency() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::default();
    let mut rx = hub.subscribe();
    let (writer, _thread) = spawn_writer(
        open(&dir.path().join("b.db")).unwrap(),
        hub,
        WriterConfig::default(),
    )
    .unwrap();
    let (mut master, slave) = TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    let boards = SerialBoards::start(
        SerialConfig {
            auto: false,
            pinned: vec![PinnedPort {
                path: path.clone().into(),
                baud: Some(115_200),
            }],
        },
        writer,
        Vec::new(),
    )
    .unwrap();
    // Wait until the port is read, then skip the first (possibly cut) line.
    while boards.ports().first().map(|p| p.status) != Some("connected") {
        std::thread::sleep(Duration::from_millis(20));
    }
    master.write_all(b"temperature:20.00\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    while rx.try_recv().is_ok() {}
    let mut samples = Vec::new();
    for i in 0..300 {
        let value = 10.0 + i as f64 / 100.0;
        let sent = Instant::now();
        master
            .write_all(format!("temperature:{value:.2}\r\n").as_bytes())
            .unwrap();
        loop {
            let batch = rx.blocking_recv().unwrap();
            if batch.iter().any(|s| (s.value - value).abs() < 1e-9) {
                samples.push(sent.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0;
    println!(
        "\n## Latency, line written to the pty -> reading on the hub (committed), {} lines",
        samples.len()
    );
    println!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    boards.stop();
    drop(slave);
}

fn main() {
    parser_throughput();
    pty_to_hub_latency();
}
