//! Hostile clients against a real engine on 127.0.0.1 with a real database: trickled headers,
//! idle connections, oversized heads, endless chunked bodies, malformed bodies and a burst
//! from a thousand source addresses. The server must stay up, keep its memory bounded and go on
//! serving an ordinary client within a second.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use clima_core::config::EngineConfig;
use clima_core::engine::Engine;
use clima_core::http::Policy;

/// A policy with short timeouts, so the tests need not wait the default half minute.
fn policy() -> Policy {
    Policy {
        idle: Duration::from_secs(2),
        max_age: Duration::from_secs(4),
        busy: Duration::from_secs(2),
        ..Policy::default()
    }
}

fn start(dir: &tempfile::TempDir) -> Engine {
    start_with(dir, policy())
}

fn start_with(dir: &tempfile::TempDir, connections: Policy) -> Engine {
    let mut cfg = EngineConfig::new(dir.path().join("clima.db"));
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.connections = connections;
    Engine::start(cfg).expect("engine starts")
}

/// An ordinary client's request, timed; it must be answered within a second.
fn served_quickly(addr: SocketAddr) {
    let t = Instant::now();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(3))
        .build();
    let r = agent
        .post(&format!("http://{addr}/api/v1/readings"))
        .set("Content-Type", "application/json")
        .send_string(r#"{"sensor":"calm","temperature":21.5}"#);
    let took = t.elapsed();
    assert_eq!(r.map(|r| r.status()).ok(), Some(201), "an ordinary post");
    assert!(took < Duration::from_secs(1), "served in {took:?}");
}

/// The warden's `/healthz` counts of the connections it closed, by reason.
fn closed_counts(addr: SocketAddr) -> serde_json::Value {
    let body = ureq::get(&format!("http://{addr}/healthz"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    health["connections_closed"].clone()
}

/// Connects from a chosen loopback source address (all of 127.0.0.0/8 is loopback).
fn connect_from(src: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((src, 0)).into()).unwrap();
    s.connect(&to.into()).unwrap();
    s.into()
}

/// One test at a time: they measure this process's memory and each other's load would count.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// The peak resident memory since the last [`reset_peak`].
fn peak_kib() -> u64 {
    status_kib("VmHWM:")
}

fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// Whether the server has closed this connection (reads end or fail within `wait`).
fn closed_within(mut s: &TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

/// Connections this test may open: both ends count against the process's descriptor limit.
fn affordable(wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    wanted.min((lim.rlim_cur as usize).saturating_sub(200) / 2)
}

#[test]
fn trickled_headers_are_cut_off_and_others_are_served() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    let n = affordable(300);
    let mut slow: Vec<TcpStream> = (0..n)
        .map(|i| {
            let mut s = connect_from(Ipv4Addr::new(127, 0, 1, (i % 250) as u8 + 1), addr);
            s.write_all(b"POST /api/v1/readings HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // Each sends a header line a second, never finishing the head.
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        for s in &mut slow {
            let _ = s.write_all(b"X-Slow: 1\r\n");
        }
        served_quickly(addr);
        std::thread::sleep(Duration::from_millis(500));
    }
    // Past the age limit every one of them is closed.
    std::thread::sleep(Duration::from_secs(2));
    let still_open = slow
        .iter()
        .filter(|s| !closed_within(s, Duration::from_millis(1500)))
        .count();
    assert_eq!(still_open, 0, "of {n} trickling connections");
    served_quickly(addr);
    engine.shutdown();
}

#[test]
fn thousands_of_idle_connections_are_closed_with_memory_bounded() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    served_quickly(addr);
    let before = rss_kib();
    reset_peak();
    let n = affordable(3000);
    // From many addresses, so the per-address cap is not what closes them.
    let idle: Vec<TcpStream> = (0..n)
        .map(|i| {
            connect_from(
                Ipv4Addr::new(127, 0, 2 + (i / 250) as u8, (i % 250) as u8 + 1),
                addr,
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    served_quickly(addr);
    let during = peak_kib();
    eprintln!(
        "{n} idle connections: memory {before} -> {during} KiB ({} KiB each)",
        during.saturating_sub(before) / n.max(1) as u64
    );
    // Each idle connection costs the server a pool thread until it is closed.
    assert!(
        during.saturating_sub(before) < 256 * 1024,
        "{n} idle connections grew memory by {} KiB",
        during - before
    );
    std::thread::sleep(Duration::from_secs(3));
    let still_open = idle
        .iter()
        .filter(|s| !closed_within(s, Duration::from_millis(500)))
        .count();
    assert_eq!(still_open, 0, "of {n} idle connections");
    served_quickly(addr);
    engine.shutdown();
}

#[test]
fn one_address_cannot_hold_more_than_its_share() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    // Default timeouts: only the cap may close connections here.
    let engine = start_with(&dir, Policy::default());
    let addr = engine.local_addr();
    let cap = Policy::default().per_address;
    let n = affordable(cap + 100);
    let src = Ipv4Addr::new(127, 0, 9, 9);
    let conns: Vec<TcpStream> = (0..n).map(|_| connect_from(src, addr)).collect();
    std::thread::sleep(Duration::from_millis(800));
    let closed = conns
        .iter()
        .filter(|s| closed_within(s, Duration::from_millis(5)))
        .count();
    assert_eq!(
        closed,
        n.saturating_sub(cap),
        "closed of {n} from one address"
    );
    let counts = closed_counts(addr);
    assert_eq!(
        counts["capped"].as_u64(),
        Some(n.saturating_sub(cap) as u64),
        "{counts}"
    );
    served_quickly(addr);
    engine.shutdown();
}

#[test]
fn an_oversized_head_is_refused_without_holding_its_bytes() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    let before = rss_kib();
    reset_peak();
    // An endless header line, written as fast as the server takes it, for a while.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nX-Huge: ").unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let (mut sent, end) = (0usize, Instant::now() + Duration::from_secs(3));
    while Instant::now() < end {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break, // closed by the server
        }
    }
    assert!(
        closed_within(&s, Duration::from_secs(1)),
        "after {sent} bytes"
    );
    let grew = rss_kib().saturating_sub(before);
    eprintln!("oversized head: cut after {sent} bytes, memory grew {grew} KiB");
    assert!(
        grew < 128 * 1024,
        "a {sent}-byte head grew memory by {grew} KiB"
    );
    served_quickly(addr);
    engine.shutdown();
}

#[test]
fn an_endless_chunked_body_is_cut_off() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        b"POST /api/v1/readings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(8) {
        if s.write_all(b"1\r\n[\r\n").is_err() {
            cut = true;
            break;
        }
        served_quickly(addr);
        if closed_within(&s, Duration::from_millis(300)) {
            cut = true;
            break;
        }
    }
    assert!(
        cut,
        "the body was still being read after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut after {:?}",
        started.elapsed()
    );
    eprintln!("endless chunked body: cut after {:?}", started.elapsed());
    engine.shutdown();
}

/// Posts `body` and returns the status and the reply's JSON.
fn post(addr: SocketAddr, body: &[u8]) -> (u16, serde_json::Value) {
    let r = ureq::post(&format!("http://{addr}/api/v1/readings"))
        .set("Content-Type", "application/json")
        .send_bytes(body);
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("no reply: {e}"),
    };
    (
        r.status(),
        serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default(),
    )
}

#[test]
fn malformed_bodies_get_clear_errors_and_lose_nothing_else() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    let (status, reply) = post(addr, b"{\"sensor\":\"a\xff\xfe\",\"temperature\":1}");
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["message"].as_str().unwrap().contains("UTF-8"),
        "{reply}"
    );

    let nested = "[".repeat(100_000);
    let (status, reply) = post(addr, nested.as_bytes());
    assert_eq!(status, 400, "{reply}");

    let (status, reply) = post(addr, br#"{"sensor":"big","temperature":1e400}"#);
    assert_eq!(status, 422, "{reply}");
    assert!(reply.to_string().contains("temperature"), "{reply}");

    let (status, reply) = post(
        addr,
        br#"[{"sensor":"ok","temperature":20},{"sensor":"bad","humidity":1e400}]"#,
    );
    assert_eq!(status, 207, "{reply}");
    assert_eq!(reply["accepted"], 1, "{reply}");
    served_quickly(addr);
    let sensors = engine.reader().sensors().unwrap();
    let names: Vec<_> = sensors.iter().map(|s| s.sensor.as_str()).collect();
    assert!(
        names.contains(&"ok") && names.contains(&"calm"),
        "{names:?}"
    );
    engine.shutdown();
}

#[test]
fn a_burst_from_a_thousand_addresses_is_answered() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    let body = br#"{"sensor":"fleet","temperature":20}"#;
    let sources: Vec<Ipv4Addr> = (0..1000u32)
        .map(|i| Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250) as u8 + 1))
        .collect();
    let handles: Vec<_> = sources
        .chunks(100)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            std::thread::spawn(move || {
                chunk
                    .into_iter()
                    .map(|src| {
                        let mut s = connect_from(src, addr);
                        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        let head = format!(
                            "POST /api/v1/readings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        s.write_all(head.as_bytes()).unwrap();
                        s.write_all(body).unwrap();
                        let mut reply = String::new();
                        let _ = s.read_to_string(&mut reply);
                        reply.split(' ').nth(1).unwrap_or("none").to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let statuses: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let created = statuses.iter().filter(|s| *s == "201").count();
    assert_eq!(
        created,
        1000,
        "each address is within its own limit: {:?}",
        statuses
            .iter()
            .filter(|s| *s != "201")
            .take(5)
            .collect::<Vec<_>>()
    );
    served_quickly(addr);
    engine.shutdown();
}

#[test]
fn honest_kept_alive_connections_are_never_cut() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    // About 700 KB of line protocol a request: two requests on one connection are more than
    // one request's allowance, so the warden must count every request of the connection,
    // including after the reply that closes it.
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    let mut t = 1_795_683_600_000_i64;
    for request in 0..40 {
        let mut body = String::new();
        for _ in 0..8_000 {
            t += 1;
            body.push_str(&format!(
                "climate,sensor=kept temperature=21.5,humidity=40.25 {t}\n"
            ));
        }
        let r = agent
            .post(&format!("http://{addr}/write?precision=ms"))
            .send_string(&body);
        assert_eq!(
            r.as_ref().map(|r| r.status()).map_err(|e| e.to_string()),
            Ok(204),
            "request {request}"
        );
    }
    // And many small requests one after another: the next one comes the moment a reply is
    // read, which must never pass for pipelining.
    for request in 0..500 {
        let r = agent
            .post(&format!("http://{addr}/api/v1/readings"))
            .set("Content-Type", "application/json")
            .send_string(&format!(
                r#"{{"sensor":"kept","temperature":{}}}"#,
                request % 100
            ));
        assert_eq!(
            r.map(|r| r.status()).map_err(|e| e.to_string()),
            Ok(201),
            "request {request}"
        );
    }
    for (why, n) in closed_counts(addr).as_object().unwrap() {
        assert_eq!(n, 0, "the warden closed {n} connections as {why}");
    }
    engine.shutdown();
}

#[test]
fn a_client_that_pipelines_and_never_reads_holds_up_no_one() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    // Requests sent back to back, replies never read. tiny_http writes a connection's replies
    // in order, so every thread answering one of these would wait for the one before; and once
    // the small window is full, a reply thread writing to it blocks.
    let deaf = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    deaf.set_recv_buffer_size(4096).unwrap();
    deaf.connect(&addr.into()).unwrap();
    let mut deaf: TcpStream = deaf.into();
    deaf.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let body = r#"{"sensor":"deaf","temperature":20}"#;
    let request = format!(
        "POST /api/v1/readings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let writer = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(5);
        let mut sent = 0u64;
        while Instant::now() < end {
            match deaf.write_all(request.as_bytes()) {
                Ok(()) => sent += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
        sent
    });
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end {
        served_quickly(addr);
        std::thread::sleep(Duration::from_millis(200));
    }
    let sent = writer.join().unwrap();
    let counts = closed_counts(addr);
    eprintln!("deaf client: {sent} requests written; closed: {counts}");
    assert_eq!(counts["pipelined"], 1, "{counts}");
    engine.shutdown();
}
