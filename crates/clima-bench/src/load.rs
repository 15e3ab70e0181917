//! The `http` load run: client threads on one kept-alive connection each, released together and
//! stopped by count or deadline; per-client counts expose clients the server left waiting.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::payload::Plan;
use crate::stats::{micros, ms, percentile, Latency};
use crate::target::Target;
use crate::wire::{self, Client};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long past the deadline an in-flight request may take before it counts as timed out.
const GRACE: Duration = Duration::from_secs(10);
/// Pause after a failed exchange, so a dead server is not hammered with reconnects.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// One load run's settings.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub label: String,
    pub target: Target,
    pub plan: Plan,
    pub requests_per_client: Option<u64>,
    pub duration: Duration,
    /// A client with no reply within this time of the start is reported as stalled.
    pub stall_window: Duration,
    /// Each client starts its n-th request no earlier than n times this after the start.
    pub pace: Option<Duration>,
    pub token: Option<String>,
}

/// What one client saw.
#[derive(Debug, Default)]
struct ClientRun {
    ok: u64,
    readings: u64,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    latencies: Vec<u64>,
    /// Successful replies within the stall window.
    early: u64,
    first_reply: Option<Duration>,
    connect: Option<Duration>,
    reconnects: u64,
    max_latency: u64,
}

/// The figures of a whole run.
#[derive(Debug)]
pub struct Report {
    pub elapsed: Duration,
    pub ok: u64,
    pub readings: u64,
    pub errors: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    pub latency: Latency,
    pub per_client: Vec<u64>,
    pub stalled: Vec<usize>,
    pub first_reply_max: Option<Duration>,
    /// Median over clients of the time to their first successful reply.
    pub first_reply_median: Option<Duration>,
    /// 99th percentile (nearest rank) over clients of the same.
    pub first_reply_p99: Option<Duration>,
    pub never_replied: usize,
    pub connect_max: Duration,
    pub reconnects: u64,
    /// (client, its slowest request in µs), slowest first.
    pub slowest_clients: Vec<(usize, u64)>,
}

impl Report {
    pub fn readings_per_s(&self) -> f64 {
        self.readings as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn requests_per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Runs the load and gathers the report; fails only if no client thread could run.
pub fn run(cfg: &LoadConfig) -> Result<Report> {
    let clients = cfg.plan.clients as usize;
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut handles = Vec::with_capacity(clients);
    for c in 0..clients {
        let (cfg, barrier) = (cfg.clone(), barrier.clone());
        let handle = std::thread::Builder::new()
            .name(format!("client-{c}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                barrier.wait();
                client_loop(&cfg, c as u64)
            })
            .map_err(|e| anyhow!("could not start client thread {c}: {e}"))?;
        handles.push(handle);
    }
    // Every client connects and sends its first request at once: the burst a fresh server meets.
    barrier.wait();
    let start = Instant::now();
    let runs: Vec<ClientRun> = handles
        .into_iter()
        .map(|h| h.join().map_err(|_| anyhow!("a client thread panicked")))
        .collect::<Result<_>>()?;
    let elapsed = start.elapsed();
    Ok(summarise(runs, elapsed))
}

fn summarise(runs: Vec<ClientRun>, elapsed: Duration) -> Report {
    let mut errors = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut first_error = None;
    for r in &runs {
        for (k, v) in &r.errors {
            *errors.entry(k.clone()).or_insert(0) += v;
        }
        if first_error.is_none() {
            first_error = r.first_error.clone();
        }
        latencies.extend_from_slice(&r.latencies);
    }
    let mut slowest: Vec<(usize, u64)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.max_latency))
        .collect();
    slowest.sort_by_key(|s| std::cmp::Reverse(s.1));
    slowest.truncate(5);
    let mut firsts: Vec<Duration> = runs.iter().filter_map(|r| r.first_reply).collect();
    firsts.sort_unstable();
    Report {
        elapsed,
        ok: runs.iter().map(|r| r.ok).sum(),
        readings: runs.iter().map(|r| r.readings).sum(),
        errors,
        first_error,
        latency: Latency::of(&mut latencies),
        per_client: runs.iter().map(|r| r.ok).collect(),
        stalled: runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.early == 0)
            .map(|(i, _)| i)
            .collect(),
        first_reply_max: firsts.last().copied(),
        first_reply_median: firsts.get(firsts.len().saturating_sub(1) / 2).copied(),
        first_reply_p99: (!firsts.is_empty()).then(|| {
            let us: Vec<u64> = firsts.iter().map(|d| micros(*d)).collect();
            Duration::from_micros(percentile(&us, 99.0))
        }),
        never_replied: runs.iter().filter(|r| r.first_reply.is_none()).count(),
        connect_max: runs
            .iter()
            .filter_map(|r| r.connect)
            .max()
            .unwrap_or_default(),
        reconnects: runs.iter().map(|r| r.reconnects).sum(),
        slowest_clients: slowest,
    }
}

fn client_loop(cfg: &LoadConfig, c: u64) -> ClientRun {
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let mut run = ClientRun::default();
    let mut client = Client::new(cfg.target.addr);
    match client.connect(CONNECT_TIMEOUT) {
        Ok(()) => run.connect = Some(start.elapsed()),
        Err(e) => note_error(&mut run, format!("connect {:?}", e.kind()), e.to_string()),
    }
    let path = cfg.target.path(&cfg.plan.path());
    let extra = cfg
        .token
        .as_ref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let per = cfg.plan.readings_per_request();
    let mut body = Vec::new();
    let mut request = 0u64;
    while cfg.requests_per_client.is_none_or(|m| request < m) && Instant::now() < deadline {
        if let Some(pace) = cfg.pace {
            let due = start + pace.saturating_mul(request.min(u32::MAX as u64) as u32);
            let now = Instant::now();
            if due >= deadline {
                break;
            }
            std::thread::sleep(due.saturating_duration_since(now));
        }
        cfg.plan.body(c, request, &mut body);
        request += 1;
        let bytes = wire::request(
            "POST",
            &path,
            &cfg.target.host,
            cfg.plan.content_type(),
            &extra,
            &body,
        );
        let sent = Instant::now();
        let timeout = (deadline + GRACE).saturating_duration_since(sent);
        match client.call(&bytes, timeout) {
            Ok(resp) if (200..300).contains(&resp.status) => {
                let lat = micros(sent.elapsed());
                let done = start.elapsed();
                run.latencies.push(lat);
                run.max_latency = run.max_latency.max(lat);
                run.ok += 1;
                run.readings += per;
                run.first_reply.get_or_insert(done);
                if done <= cfg.stall_window {
                    run.early += 1;
                }
            }
            Ok(resp) => {
                let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(300)]);
                note_error(&mut run, format!("HTTP {}", resp.status), text.into_owned());
            }
            Err(e) => {
                note_error(&mut run, format!("io {:?}", e.kind()), e.to_string());
                if Instant::now() >= deadline + GRACE {
                    break;
                }
                std::thread::sleep(ERROR_PAUSE);
            }
        }
    }
    run.reconnects = client.reconnects;
    run
}

fn note_error(run: &mut ClientRun, kind: String, detail: String) {
    run.first_error
        .get_or_insert_with(|| format!("{kind}: {detail}"));
    *run.errors.entry(kind).or_insert(0) += 1;
}

/// Prints the report for people, then one `result key=value ...` line for scripts.
pub fn print(cfg: &LoadConfig, r: &Report) {
    let p = &cfg.plan;
    let pace = cfg.pace.map_or(String::new(), |d| {
        format!(", one request per {} ms per client", d.as_millis())
    });
    println!(
        "== {} : mode {} against {} ({} clients, batch {}, {} sensors{pace})",
        cfg.label,
        p.mode.name(),
        cfg.target.addr,
        p.clients,
        p.readings_per_request(),
        p.sensors
    );
    println!(
        "   {:.1} s: {} requests ok ({:.0}/s), {} readings ({:.0}/s)",
        r.elapsed.as_secs_f64(),
        r.ok,
        r.requests_per_s(),
        r.readings,
        r.readings_per_s()
    );
    println!(
        "   latency ms: p50 {}  p90 {}  p99 {}  max {}",
        ms(r.latency.p50),
        ms(r.latency.p90),
        ms(r.latency.p99),
        ms(r.latency.max)
    );
    if r.errors.is_empty() {
        println!("   errors: none");
    } else {
        println!("   errors: {:?}", r.errors);
        if let Some(e) = &r.first_error {
            println!("   first error: {e}");
        }
    }
    let (min, max) = (
        r.per_client.iter().min().copied().unwrap_or(0),
        r.per_client.iter().max().copied().unwrap_or(0),
    );
    println!(
        "   per client: min {min}, max {max} requests ok; reconnects {}; slowest connect {} ms",
        r.reconnects,
        ms(micros(r.connect_max))
    );
    println!(
        "   first reply after the start: median client {} ms, p99 {} ms, slowest client {} ms; {} client(s) never answered",
        opt_ms(r.first_reply_median),
        opt_ms(r.first_reply_p99),
        opt_ms(r.first_reply_max),
        r.never_replied
    );
    if r.stalled.is_empty() {
        println!(
            "   stalls: none (every client had a reply within {} s)",
            cfg.stall_window.as_secs_f64()
        );
    } else {
        println!(
            "   STALLED: {} client(s) had no reply within {} s: {:?}",
            r.stalled.len(),
            cfg.stall_window.as_secs_f64(),
            r.stalled
        );
    }
    let slow: Vec<String> = r
        .slowest_clients
        .iter()
        .map(|(c, us)| format!("#{c} {} ms", ms(*us)))
        .collect();
    println!("   slowest single request per client: {}", slow.join(", "));
    println!(
        "result label={} mode={} clients={} batch={} elapsed_s={:.2} readings={} readings_per_s={:.0} requests_per_s={:.1} p50_ms={} p90_ms={} p99_ms={} max_ms={} errors={} min_client={min} max_client={max} stalled={} never_replied={} first_reply_p50_ms={} first_reply_p99_ms={} first_reply_max_ms={} reconnects={}",
        cfg.label,
        p.mode.name(),
        p.clients,
        p.readings_per_request(),
        r.elapsed.as_secs_f64(),
        r.readings,
        r.readings_per_s(),
        r.requests_per_s(),
        ms(r.latency.p50),
        ms(r.latency.p90),
        ms(r.latency.p99),
        ms(r.latency.max),
        r.error_count(),
        r.stalled.len(),
        r.never_replied,
        opt_ms(r.first_reply_median),
        opt_ms(r.first_reply_p99),
        opt_ms(r.first_reply_max),
        r.reconnects,
    );
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| ms(micros(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_flags_clients_without_early_replies() {
        let quick = ClientRun {
            ok: 10,
            readings: 10,
            early: 4,
            first_reply: Some(Duration::from_millis(3)),
            latencies: vec![1000, 2000],
            max_latency: 2000,
            ..Default::default()
        };
        let stuck = ClientRun {
            ok: 1,
            readings: 1,
            first_reply: Some(Duration::from_millis(4500)),
            latencies: vec![4_500_000],
            max_latency: 4_500_000,
            errors: BTreeMap::from([("HTTP 503".to_owned(), 2)]),
            ..Default::default()
        };
        let r = summarise(
            vec![quick, stuck, ClientRun::default()],
            Duration::from_secs(2),
        );
        assert_eq!(r.ok, 11);
        assert_eq!(r.stalled, vec![1, 2]);
        assert_eq!(r.never_replied, 1);
        assert_eq!(r.first_reply_max, Some(Duration::from_millis(4500)));
        assert_eq!(r.first_reply_median, Some(Duration::from_millis(3)));
        assert_eq!(r.first_reply_p99, Some(Duration::from_millis(4500)));
        assert_eq!(r.per_client, vec![10, 1, 0]);
        assert_eq!(r.error_count(), 2);
        assert_eq!(r.slowest_clients[0], (1, 4_500_000));
        assert_eq!(r.readings_per_s(), 5.5);
    }
}
