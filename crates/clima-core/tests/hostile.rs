//! Hostile clients against a real engine on 127.0.0.1 with a real database: trickled headers,
//! idle connections, oversized heads, endless chunked bodies, malformed bodies, clients that
//! never read, pipelining and a burst from a thousand source addresses. The server must stay
//! up, keep its memory bounded and go on serving an ordinary client within a second.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use clima_core::config::{EngineConfig, Limits};
use clima_core::engine::Engine;

/// Limits with short timeouts, so the tests need not wait the defaults.
fn limits() -> Limits {
    Limits {
        head_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        write_stall: Duration::from_secs(2),
        ..Limits::default()
    }
}

fn start(dir: &tempfile::TempDir) -> Engine {
    start_with(dir, limits(), |_| {})
}

fn start_with(
    dir: &tempfile::TempDir,
    limits: Limits,
    more: impl FnOnce(&mut EngineConfig),
) -> Engine {
    let mut cfg = EngineConfig::new(dir.path().join("clima.db"));
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.limits = limits;
    more(&mut cfg);
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

/// `/healthz`'s counts of the connections the server refused or cut, by reason.
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

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    memory_stats::memory_stats().map_or(0, |m| m.physical_mem as u64 / 1024)
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
            s.write_all(b"POST /api/v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\n")
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
    let during = rss_kib();
    eprintln!(
        "{n} idle connections: memory {before} -> {during} KiB ({} KiB each)",
        during.saturating_sub(before) / n.max(1) as u64
    );
    // An idle connection costs a task and its buffers until it is closed.
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
    let engine = start_with(&dir, Limits::default(), |_| {});
    let addr = engine.local_addr();
    let cap = Limits::default().per_address;
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
        b"POST /api/v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
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
                            "POST /api/v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
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
    // About 700 KB of line protocol a request, several on one kept-alive connection.
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
    // And many small requests one after another, the next one the moment a reply is read.
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
        assert_eq!(n, 0, "the server closed {n} connections as {why}");
    }
    engine.shutdown();
}

#[test]
fn a_client_that_pipelines_and_never_reads_is_cut_and_holds_up_no_one() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    // No rate limit: its replies must be the large ones, not small 429s.
    let engine = start_with(&dir, limits(), |cfg| cfg.rate_limit = None);
    let addr = engine.local_addr();
    // Requests sent back to back, replies never read: once both windows are full, the replies
    // stall and the write limit cuts the connection.
    // From its own address, so its requests do not spend the ordinary client's rate limit.
    let deaf = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    deaf.set_recv_buffer_size(4096).unwrap();
    deaf.bind(&SocketAddr::from((Ipv4Addr::new(127, 0, 5, 5), 0)).into())
        .unwrap();
    deaf.connect(&addr.into()).unwrap();
    let mut deaf: TcpStream = deaf.into();
    deaf.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Each request asks for a large reply (10,000 buckets), so a few fill every buffer on the
    // way, however slowly the machine runs.
    served_quickly(addr);
    let request = "GET /api/v1/readings?sensor=calm&metric=temperature&points=10000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let writer = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(10);
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
    // Ordinary clients are served throughout, until the server cuts the deaf one.
    let end = Instant::now() + Duration::from_secs(15);
    let mut counts = closed_counts(addr);
    while Instant::now() < end && counts["write_stalled"] == 0 {
        served_quickly(addr);
        std::thread::sleep(Duration::from_millis(200));
        counts = closed_counts(addr);
    }
    let sent = writer.join().unwrap();
    eprintln!("deaf client: {sent} requests written; closed: {counts}");
    assert_eq!(counts["write_stalled"], 1, "{counts}");
    served_quickly(addr);
    engine.shutdown();
}

/// Reads one HTTP/1.1 response with a Content-Length body off `s`: its status and body.
fn read_response(s: &mut impl std::io::BufRead) -> (u16, String) {
    let mut line = String::new();
    s.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    loop {
        line.clear();
        s.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    s.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[test]
fn a_hundred_pipelined_requests_are_answered_in_order() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    let mut all = String::new();
    for i in 0..100 {
        let body = format!(
            r#"[{{"sensor":"piped","temperature":20,"measured_at":{}}}{}]"#,
            1_795_683_600_000_i64 + i,
            r#",{"sensor":"piped","temperature":20}"#.repeat(i as usize % 3)
        );
        all.push_str(&format!(
            "POST /api/v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(all.as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(s);
    for i in 0..100 {
        let (status, body) = read_response(&mut reader);
        assert_eq!(status, 201, "reply {i}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        // Each reply is its own request's: the batch sizes cycle 1, 2, 3.
        assert_eq!(v["accepted"], 1 + i % 3, "reply {i}: {body}");
    }
    engine.shutdown();
}

#[test]
fn a_thousand_requests_on_one_kept_alive_connection() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with(&dir, limits(), |cfg| cfg.rate_limit = None);
    let addr = engine.local_addr();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut writer = s.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(s);
    for i in 0..1000 {
        let body = format!(r#"{{"sensor":"kept","temperature":{}}}"#, i % 50);
        write!(
            writer,
            "POST /api/v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let (status, body) = read_response(&mut reader);
        assert_eq!(status, 201, "request {i}: {body}");
    }
    let counts = closed_counts(addr);
    for (why, n) in counts.as_object().unwrap() {
        assert_eq!(n, 0, "the server closed {n} connections as {why}");
    }
    engine.shutdown();
}

#[test]
fn a_300_kb_head_is_refused() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start(&dir);
    let addr = engine.local_addr();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(300 * 1024)
    );
    // The server may close before it has read it all.
    let _ = s.write_all(head.as_bytes());
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
        "{reply}"
    );
    // The count follows the close by a moment (the connection's task counts once it is done).
    let counted = (0..40).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        closed_counts(addr)["head_too_large"] == 1
    });
    assert!(counted, "{}", closed_counts(addr));
    served_quickly(addr);
    engine.shutdown();
}

#[test]
fn a_live_viewer_that_never_reads_is_cut_and_forgotten() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with(&dir, limits(), |cfg| {
        cfg.throttle = Duration::from_millis(1);
        cfg.rate_limit = None;
    });
    let addr = engine.local_addr();
    let deaf = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    deaf.set_recv_buffer_size(4096).unwrap();
    deaf.connect(&addr.into()).unwrap();
    let mut deaf: TcpStream = deaf.into();
    deaf.write_all(b"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    // Each update carries the newest value of 500 sensors: a few hundred updates fill every
    // buffer between the server and a client that reads nothing.
    let batch: Vec<String> = (0..500)
        .map(|i| format!(r#"{{"sensor":"room-{i}","temperature":{}}}"#, 15 + i % 10))
        .collect();
    let body = format!("[{}]", batch.join(","));
    let started = Instant::now();
    let mut cut = None;
    while started.elapsed() < Duration::from_secs(30) {
        post(addr, body.as_bytes());
        if closed_counts(addr)["write_stalled"] == 1 {
            cut = Some(started.elapsed());
            break;
        }
    }
    let cut = cut.expect("the viewer that never reads was never cut");
    eprintln!("a viewer that never reads was cut after {cut:?}");
    assert!(closed_within(&deaf, Duration::from_secs(1)));
    served_quickly(addr);
    engine.shutdown();
}
