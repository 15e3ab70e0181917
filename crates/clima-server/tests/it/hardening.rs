//! Faults: SIGKILL under load, a full disk, running out of file descriptors, a reverse proxy's
//! forwarded addresses, and regenerating the token.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::*;

/// Readings of round `round`, client `c`: two seconds apart from a fixed start, so a range
/// query can take exactly the first `n` of them.
fn reading_time(round: u64, i: u64) -> u64 {
    1_790_000_000 + round * 100_000 + 2 * i
}

/// How many of a sensor's raw samples lie between `from` and `to` (unix seconds), counted
/// exactly as rows of the CSV export.
fn count_between(s: &Server, sensor: &str, from: u64, to: u64) -> u64 {
    let r = get(&s.url(&format!(
        "/api/v1/export.csv?sensor={sensor}&metric=temperature&from={from}&to={to}"
    )));
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.lines().skip(1).filter(|l| !l.is_empty()).count() as u64
}

#[test]
fn twenty_kills_lose_no_acknowledged_reading() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    const CLIENTS: u64 = 4;
    let mut seed = std::process::id() as u64 | 1;
    let mut total_acked = 0;
    for round in 0..20u64 {
        let s = Server::start_on(&db, &["--rate-limit", "off", "--serial", "off"]);
        let url = s.url("/api/v1/readings");
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, stop) = (url.clone(), stop.clone());
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(5))
                        .build();
                    // Each client posts in order and stops at its first failure, so what it
                    // saw acknowledged is the first `acked` of its readings.
                    let mut acked = 0;
                    while !stop.load(Ordering::Relaxed) && acked < 20_000 {
                        let body = format!(
                            r#"{{"sensor":"k{c}","temperature":20,"measured_at":{}}}"#,
                            reading_time(round, acked)
                        );
                        match agent
                            .post(&url)
                            .set("Content-Type", "application/json")
                            .send_string(&body)
                        {
                            Ok(r) if r.status() == 201 => acked += 1,
                            _ => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        // A random moment between 50 and 550 ms into the load.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(50 + seed % 500));
        signal(&s.child, "-KILL");
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<u64> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        drop(s);
        let s = Server::start_on(&db, &["--serial", "off"]);
        for (c, &n) in acked.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let stored = count_between(
                &s,
                &format!("k{c}"),
                reading_time(round, 0),
                // Past the last acknowledged one, before the next.
                reading_time(round, n - 1) + 1,
            );
            assert_eq!(
                stored, n,
                "round {round}, client {c}: acknowledged {n}, stored {stored}"
            );
        }
        total_acked += acked.iter().sum::<u64>();
    }
    assert!(
        total_acked > 1_000,
        "the load was too light to tell: {total_acked}"
    );
    eprintln!("20 kills: {total_acked} acknowledged readings, every one found after restart");
}

/// A server whose database lives on a small tmpfs of its own (a private mount namespace), so
/// the test can fill the disk. `None` where mount namespaces are not allowed.
fn server_on_small_disk(dir: &std::path::Path) -> Option<Server> {
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!("mount -t tmpfs -o size=1m tmpfs {}", dir.display()))
        .status()
        .ok()?;
    if !probe.success() {
        return None;
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c"]).arg(format!(
        "mount -t tmpfs -o size=8m tmpfs {dir} && exec {bin} --db {dir}/clima.db --listen 127.0.0.1:0 --serial off --rate-limit off",
        dir = dir.display(),
        bin = env!("CARGO_BIN_EXE_clima-server"),
    ));
    Some(Server::spawn(cmd, &dir.join("clima.db")))
}

#[test]
fn a_full_disk_gets_503_never_a_false_201_and_ingest_resumes() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("disk");
    std::fs::create_dir(&dir).unwrap();
    let Some(s) = server_on_small_disk(&dir) else {
        panic!("this test needs mount namespaces (unshare -m as root)");
    };
    // Runs a shell command in the server's own mount namespace, where its small disk is.
    let inside = |script: String| {
        Command::new("nsenter")
            .args(["-t", &s.child.id().to_string(), "-m", "sh", "-c", &script])
            .status()
            .expect("nsenter runs")
    };
    let batch = |round: u64| -> (u16, String) {
        let items: Vec<String> = (0..2_000u64)
            .map(|i| {
                format!(
                    r#"{{"sensor":"disk","temperature":{},"humidity":50,"measured_at":{}}}"#,
                    i % 30,
                    1_790_000_000 + round * 10_000 + i
                )
            })
            .collect();
        let r = post_json(
            &s.url("/api/v1/readings"),
            &format!("[{}]", items.join(",")),
        );
        (r.status, r.body)
    };
    assert_eq!(batch(0).0, 201);
    // Fill the disk, leaving the database nowhere to grow (dd stops at "no space left").
    let filler = dir.join("filler");
    inside(format!(
        "dd if=/dev/zero of={} bs=64k 2>/dev/null",
        filler.display()
    ));
    let (mut acked, mut refused) = (vec![0u64], Vec::new());
    for round in 1..60u64 {
        let (status, body) = batch(round);
        match status {
            201 => acked.push(round),
            503 => {
                assert!(body.contains("full"), "{body}");
                refused.push(round);
                if refused.len() >= 3 {
                    break;
                }
            }
            other => panic!("status {other}: {body}"),
        }
    }
    assert!(
        refused.len() >= 3,
        "the disk never filled: {} batches taken",
        acked.len()
    );
    let health = get(&s.url("/healthz"));
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(health.body.contains("full"), "{}", health.body);

    // Space comes back: ingest resumes with no restart.
    assert!(inside(format!("rm {}", filler.display())).success());
    let resumed = (100..110u64).find(|&round| {
        let (status, _) = batch(round);
        if status == 201 {
            acked.push(round);
        }
        status == 201
    });
    assert!(resumed.is_some(), "ingest did not resume");
    assert_eq!(get(&s.url("/healthz")).status, 200);

    // Every acknowledged batch is there, and no refused one.
    for round in &acked {
        let from = 1_790_000_000 + round * 10_000;
        assert_eq!(
            count_between(&s, "disk", from, from + 2_000),
            2_000,
            "batch {round}"
        );
    }
    for round in &refused {
        let from = 1_790_000_000 + round * 10_000;
        assert_eq!(
            count_between(&s, "disk", from, from + 2_000),
            0,
            "refused batch {round}"
        );
    }
}

#[test]
fn the_listener_survives_running_out_of_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fd.db");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clima-server"));
    cmd.arg("--db")
        .arg(&db)
        .args(["--listen", "127.0.0.1:0", "--serial", "off"]);
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 96,
                rlim_max: 96,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let s = Server::spawn(cmd, &db);
    assert_eq!(get(&s.url("/healthz")).status, 200);
    // More connections than the server has descriptors for.
    let hogs: Vec<TcpStream> = (0..120)
        .filter_map(|_| TcpStream::connect(s.addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    drop(hogs);
    // Once they are gone the port answers again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ok = false;
    while Instant::now() < deadline && !ok {
        ok = ureq::get(&s.url("/healthz"))
            .timeout(Duration::from_millis(500))
            .call()
            .is_ok_and(|r| r.status() == 200);
    }
    assert!(ok, "the port stayed deaf; log: {}", s.log());
    // It did run out, and went on accepting.
    let health = get(&s.url("/healthz")).json();
    assert!(
        health["connections_closed"]["accept_errors"].as_u64() > Some(0),
        "{health}"
    );
}

#[test]
fn forwarded_for_is_believed_only_from_the_trusted_proxy() {
    let proxy = "127.0.0.5";
    let post = |s: &Server, client: &str| -> u16 {
        let body = r#"{"sensor":"px","temperature":20.25}"#;
        let req = format!(
            "POST /api/v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Forwarded-For: {client}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        raw_from(proxy.parse().unwrap(), s.addr, &req).0
    };
    // Trusted: each forwarded client has its own allowance of 2.
    let s = Server::start(&[
        "--rate-limit",
        "2/1m",
        "--trusted-proxy",
        proxy,
        "--serial",
        "off",
    ]);
    // The last: a client that forged an entry of its own, which the proxy appended to.
    let statuses: Vec<u16> = [
        "10.1.1.1",
        "10.1.1.1",
        "10.1.1.1",
        "10.2.2.2",
        "10.9.9.9, 10.1.1.1",
    ]
    .iter()
    .map(|c| post(&s, c))
    .collect();
    assert_eq!(statuses, [201, 201, 429, 201, 429]);
    drop(s);
    // Not trusted: the header is ignored and every request counts against the proxy.
    let s = Server::start(&["--rate-limit", "2/1m", "--serial", "off"]);
    let statuses: Vec<u16> = ["10.1.1.1", "10.2.2.2", "10.3.3.3"]
        .iter()
        .map(|c| post(&s, c))
        .collect();
    assert_eq!(statuses, [201, 201, 429]);
}

#[test]
fn a_regenerated_token_replaces_the_old_one_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("token.db");
    let printed = |extra: &[&str]| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_clima-server"))
            .arg("--db")
            .arg(&db)
            .arg("token")
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let first = printed(&[]);
    assert_eq!(first.len(), 32);
    assert_eq!(printed(&[]), first, "kept, not made anew");

    let s = Server::start_on(&db, &["--token", "auto", "--serial", "off"]);
    let sensors = |t: &str| {
        call(
            "GET",
            &s.url("/api/v1/sensors"),
            &[("Authorization", &format!("Bearer {t}"))],
            None,
        )
        .status
    };
    assert_eq!(sensors(&first), 200);
    let r = call(
        "POST",
        &s.url("/api/v1/token/regenerate"),
        &[("Authorization", &format!("Bearer {first}"))],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let second = r.json()["token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(sensors(&first), 401, "the old token is refused at once");
    assert_eq!(sensors(&second), 200);
    assert!(
        !s.log().contains(&first) && !s.log().contains(&second),
        "a token reached the log"
    );
    drop(s);
    assert_eq!(printed(&[]), second, "the new token is the one kept");
    let third = printed(&["--regenerate"]);
    assert_ne!(third, second);

    // A token given on the command line is changed there, not here.
    let s = Server::start(&["--token", "fixed-token-1", "--serial", "off"]);
    let r = call(
        "POST",
        &s.url("/api/v1/token/regenerate"),
        &[("Authorization", "Bearer fixed-token-1")],
        None,
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("--token"), "{}", r.body);
}

#[test]
fn full_durability_is_taken_and_said() {
    let s = Server::start(&["--durability", "full", "--serial", "off"]);
    let r = post_json(
        &s.url("/api/v1/readings"),
        r#"{"sensor":"sync","temperature":20}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let log = s.log();
    assert!(log.contains("durability=Full"), "{log}");
}
