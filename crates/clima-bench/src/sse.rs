//! The `sse-latency` probe: how long from posting one reading until the live stream
//! (`GET /api/v1/stream`) carries it, measured over a raw socket.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::stats::{micros, ms, Latency};
use crate::target::Target;
use crate::wire::{self, Client};

/// One probe's settings.
#[derive(Debug, Clone)]
pub struct SseConfig {
    pub target: Target,
    pub samples: u64,
    /// Time from one post to the next; above the server's throttle, each post follows a quiet spell.
    pub interval: Duration,
    /// Longest wait for a post's event before it counts as missed.
    pub timeout: Duration,
    pub token: Option<String>,
    pub run_tag: String,
}

/// What the stream reader passes on.
#[derive(Debug)]
enum StreamEvent {
    Hello(Value),
    Reading {
        sensor: String,
        measured_at: i64,
        at: Instant,
    },
    Ended(String),
}

/// One Server-Sent Event: its type and its joined data lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sse {
    pub event: String,
    pub data: String,
}

/// Feeds lines (without line ends) of an event stream; returns an event at each blank line.
#[derive(Debug, Default)]
pub struct SseParser {
    current: Sse,
    has_data: bool,
}

impl SseParser {
    pub fn line(&mut self, line: &str) -> Option<Sse> {
        if line.is_empty() {
            let done = std::mem::take(&mut self.current);
            let had = std::mem::take(&mut self.has_data);
            return (had || !done.event.is_empty()).then_some(done);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.current.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

/// The probe's figures.
#[derive(Debug)]
pub struct SseReport {
    pub hello: Value,
    pub event: Latency,
    pub post: Latency,
    pub missed: u64,
}

pub fn run(cfg: &SseConfig) -> Result<SseReport> {
    let stream = TcpStream::connect_timeout(&cfg.target.addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to {} for the live stream", cfg.target.addr))?;
    stream.set_nodelay(true)?;
    let auth = auth_header(cfg.token.as_deref());
    let get = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nUser-Agent: clima-bench\r\n{auth}\r\n",
        cfg.target.path("/api/v1/stream"),
        cfg.target.host
    );
    (&stream).write_all(get.as_bytes())?;
    let closer = stream.try_clone()?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream);
    let head = wire::read_head(&mut reader).context("reading the stream's reply head")?;
    if head.status != 200 {
        bail!(
            "GET /api/v1/stream answered {}; is the token right?",
            head.status
        );
    }
    // Quiet streams only send a heartbeat every 15 s: no read timeout from here on.
    reader.get_ref().set_read_timeout(None)?;
    let (tx, rx) = mpsc::channel();
    let reader_thread = std::thread::Builder::new()
        .name("sse-reader".into())
        .spawn(move || read_stream(reader, tx))?;

    let result = probe(cfg, &rx);
    let _ = closer.shutdown(Shutdown::Both);
    let _ = reader_thread.join();
    result
}

fn probe(cfg: &SseConfig, rx: &mpsc::Receiver<StreamEvent>) -> Result<SseReport> {
    let hello = match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(StreamEvent::Hello(v)) => v,
        Ok(other) => bail!("expected the hello event first, got {other:?}"),
        Err(_) => bail!("no hello event within 5 s of opening the stream"),
    };
    let sensor = format!("{}-sse", cfg.run_tag);
    let mut client = Client::new(cfg.target.addr);
    let auth = auth_header(cfg.token.as_deref());
    let (mut events, mut posts, mut missed) = (Vec::new(), Vec::new(), 0);
    let mut last_at = 0i64;
    for i in 0..cfg.samples {
        let at = now_ms().max(last_at + 1);
        last_at = at;
        // A distinct value and time per sample; matched on (sensor, measured_at).
        let value = 10.0 + (i % 1000) as f64 / 100.0;
        let body =
            format!("{{\"sensor\":\"{sensor}\",\"temperature\":{value:.2},\"measured_at\":{at}}}");
        let req = wire::request(
            "POST",
            &cfg.target.path("/api/v1/readings"),
            &cfg.target.host,
            "application/json",
            &auth,
            body.as_bytes(),
        );
        let sent = Instant::now();
        let resp = client
            .call(&req, Duration::from_secs(10))
            .context("posting a reading")?;
        if !(200..300).contains(&resp.status) {
            bail!(
                "POST /api/v1/readings answered {}: {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            );
        }
        posts.push(micros(sent.elapsed()));
        let give_up = sent + cfg.timeout;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(StreamEvent::Reading {
                    sensor: s,
                    measured_at,
                    at: arrived,
                }) if s == sensor && measured_at == at => {
                    events.push(micros(arrived.duration_since(sent)));
                    break;
                }
                Ok(StreamEvent::Ended(why)) => bail!("the live stream ended: {why}"),
                Ok(_) => {}
                Err(_) => {
                    missed += 1;
                    break;
                }
            }
        }
        let next = sent + cfg.interval;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(SseReport {
        hello,
        event: Latency::of(&mut events),
        post: Latency::of(&mut posts),
        missed,
    })
}

fn read_stream(mut reader: BufReader<TcpStream>, tx: mpsc::Sender<StreamEvent>) {
    let mut parser = SseParser::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => {
                let _ = tx.send(StreamEvent::Ended("the server closed the stream".into()));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(StreamEvent::Ended(e.to_string()));
                return;
            }
        }
        let at = Instant::now();
        let line = String::from_utf8_lossy(&buf);
        let Some(ev) = parser.line(line.trim_end_matches(['\r', '\n'])) else {
            continue;
        };
        let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
        let sent = match ev.event.as_str() {
            "hello" => tx.send(StreamEvent::Hello(data)).is_ok(),
            "readings" => data["readings"].as_array().into_iter().flatten().all(|r| {
                tx.send(StreamEvent::Reading {
                    sensor: r["sensor"].as_str().unwrap_or("").to_owned(),
                    measured_at: r["measured_at"].as_i64().unwrap_or(0),
                    at,
                })
                .is_ok()
            }),
            _ => true,
        };
        if !sent {
            return;
        }
    }
}

fn auth_header(token: Option<&str>) -> String {
    token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn print(cfg: &SseConfig, r: &SseReport) {
    let throttle = r.hello["throttle_ms"]
        .as_u64()
        .map_or("?".into(), |t| t.to_string());
    println!(
        "== sse-latency against {} (server throttle {throttle} ms, {} samples, one every {} ms)",
        cfg.target.addr,
        cfg.samples,
        cfg.interval.as_millis()
    );
    println!(
        "   post to event ms: p50 {}  p99 {}  max {}  ({} received, {} missed)",
        ms(r.event.p50),
        ms(r.event.p99),
        ms(r.event.max),
        r.event.count,
        r.missed
    );
    println!(
        "   post to 201 ms:   p50 {}  p99 {}  max {}",
        ms(r.post.p50),
        ms(r.post.p99),
        ms(r.post.max)
    );
    println!(
        "result label=sse throttle_ms={throttle} interval_ms={} samples={} received={} missed={} p50_ms={} p99_ms={} max_ms={} post_p50_ms={} post_p99_ms={}",
        cfg.interval.as_millis(),
        cfg.samples,
        r.event.count,
        r.missed,
        ms(r.event.p50),
        ms(r.event.p99),
        ms(r.event.max),
        ms(r.post.p50),
        ms(r.post.p99),
    );
}

/// Refuses a probe that would run longer than `cap`.
pub fn check_bounds(samples: u64, interval: Duration, cap: Duration) -> Result<()> {
    let total = interval.saturating_mul(samples.min(u32::MAX as u64) as u32);
    if samples == 0 || total > cap {
        return Err(anyhow!(
            "--samples {samples} at one per {} ms would take {} s; keep it between 1 sample and {} s",
            interval.as_millis(),
            total.as_secs(),
            cap.as_secs()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lines: &[&str], expected: &[(&str, &str)]) {
        let mut p = SseParser::default();
        let got: Vec<Sse> = lines.iter().filter_map(|l| p.line(l)).collect();
        let want: Vec<Sse> = expected
            .iter()
            .map(|(e, d)| Sse {
                event: (*e).into(),
                data: (*d).into(),
            })
            .collect();
        assert_eq!(got, want, "{lines:?}");
    }

    #[test]
    fn events() {
        check(
            &["event: hello", "data: {\"throttle_ms\":500}", ""],
            &[("hello", "{\"throttle_ms\":500}")],
        );
        check(&[": keep-alive", ""], &[]);
        check(
            &["data:a", "data: b", "", "", "event: x", ""],
            &[("", "a\nb"), ("x", "")],
        );
        check(&["event: readings", "data: {}"], &[]);
    }

    #[test]
    fn bounds() {
        assert!(check_bounds(100, Duration::from_millis(600), Duration::from_secs(600)).is_ok());
        assert!(check_bounds(0, Duration::from_millis(600), Duration::from_secs(600)).is_err());
        assert!(check_bounds(2000, Duration::from_millis(600), Duration::from_secs(600)).is_err());
    }
}
