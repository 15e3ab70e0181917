//! Serial boards against a live server: a virtual board on a real pseudo-terminal, unplugged
//! and replugged, released and reclaimed, and talking at the wrong baud rate.

use std::path::Path;
use std::time::{Duration, Instant};

use clima_core::sim::{BoardFormat, BoardOptions, VirtualBoard};
use serde_json::Value;

use crate::util::*;

fn board(link: &Path, format: BoardFormat, baud: Option<u32>) -> VirtualBoard {
    VirtualBoard::start(BoardOptions {
        format,
        rate: 20.0,
        link: Some(link.to_owned()),
        baud,
        ..Default::default()
    })
    .unwrap()
}

fn port(s: &Server) -> Value {
    get(&s.url("/api/v1/ports")).json()["ports"][0].clone()
}

/// Polls until `check` holds, returning how long it took.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
    start.elapsed()
}

fn readings(s: &Server) -> u64 {
    port(s)["readings"].as_u64().unwrap_or(0)
}

#[test]
fn board_readings_arrive_and_survive_unplug_and_replug() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("board");
    let b = board(&link, BoardFormat::Bme280, None);
    let s = Server::start(&["--serial", link.to_str().unwrap()]);
    wait_for("readings", Duration::from_secs(10), || readings(&s) >= 3);
    let sensors = get(&s.url("/api/v1/sensors")).json();
    let sensor = &sensors["sensors"][0];
    assert_eq!(sensor["sensor"], "serial-board");
    assert_eq!(sensor["source"], "serial");
    let metrics: Vec<&str> = sensor["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, ["altitude", "humidity", "pressure", "temperature"]);

    // Unplug: the port waits, nothing crashes, the API still answers.
    b.stop();
    wait_for("waiting status", Duration::from_secs(5), || {
        port(&s)["status"] == "waiting"
    });
    assert_eq!(get(&s.url("/healthz")).status, 200);

    // Replug on the same path: read again within 2 s.
    let before = readings(&s);
    let _b = board(&link, BoardFormat::Sht31, None);
    let took = wait_for("readings after replug", Duration::from_secs(5), || {
        readings(&s) > before
    });
    assert!(
        took < Duration::from_secs(2),
        "replugged board read after {took:?}"
    );
    assert_eq!(port(&s)["status"], "connected");
}

#[test]
fn release_and_reclaim() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("flash-me");
    let _b = board(&link, BoardFormat::Plotter, None);
    let s = Server::start(&["--serial", link.to_str().unwrap()]);
    wait_for("readings", Duration::from_secs(10), || readings(&s) >= 1);
    let id = port(&s)["id"].as_str().unwrap().to_owned();
    let body = serde_json::json!({ "id": id }).to_string();
    assert_eq!(
        post_json(&s.url("/api/v1/ports/release"), &body).status,
        200
    );
    wait_for("released", Duration::from_secs(5), || {
        port(&s)["status"] == "released"
    });
    // While released, the port is free for another program and nothing is read.
    let held = readings(&s);
    let other = serialport::new(link.to_str().unwrap(), 115_200).open();
    assert!(
        other.is_ok(),
        "released port could not be opened: {:?}",
        other.err()
    );
    drop(other);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(readings(&s), held);
    assert_eq!(post_json(&s.url("/api/v1/ports/claim"), &body).status, 200);
    wait_for("readings after claim", Duration::from_secs(5), || {
        readings(&s) > held
    });
    assert_eq!(
        post_json(&s.url("/api/v1/ports/claim"), r#"{"id":"nope"}"#).status,
        404
    );
}

#[test]
fn wrong_baud_rate_gives_no_garbage_and_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let (fixed, hunted) = (dir.path().join("fixed"), dir.path().join("hunted"));
    let _a = board(&fixed, BoardFormat::Plotter, Some(9_600));
    let _b = board(&hunted, BoardFormat::Json, Some(9_600));
    let s = Server::start(&[
        "--serial",
        &format!("{}@115200", fixed.display()),
        "--serial",
        hunted.to_str().unwrap(),
    ]);
    // A port is listed once discovery has first seen it; until then this is null.
    let by_id = |id: &str| {
        get(&s.url("/api/v1/ports")).json()["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    let (fixed_id, hunted_id) = (fixed.to_str().unwrap(), hunted.to_str().unwrap());
    // The hunting port tries other rates and settles on the board's.
    wait_for("baud found", Duration::from_secs(15), || {
        by_id(hunted_id)["readings"].as_u64().unwrap_or(0) >= 3
    });
    assert_eq!(by_id(hunted_id)["baud"], 9_600);
    // The pinned rate stays wrong: only noise, reported, never stored.
    let f = by_id(fixed_id);
    assert_eq!(f["readings"], 0);
    assert!(f["lines_unparsed"].as_u64().unwrap() > 0);
    assert!(f["unparsed"][0]["reason"].as_str().unwrap().len() > 5);
    let sensors = get(&s.url("/api/v1/sensors")).json();
    let names: Vec<&str> = sensors["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["sensor"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["serial-hunted"], "garbage became a sensor");
    let metrics: Vec<&str> = sensors["sensors"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, ["co2", "humidity", "pressure", "temperature"]);
}

#[test]
fn label_names_the_board_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("greenhouse");
    let db = dir.path().join("labels.db");
    let _b = board(&link, BoardFormat::Plotter, None);
    let serial = ["--serial", link.to_str().unwrap()];
    let s = Server::start_on(&db, &serial);
    wait_for("readings", Duration::from_secs(10), || readings(&s) >= 1);
    let id = port(&s)["id"].as_str().unwrap().to_owned();
    let body = serde_json::json!({ "id": id, "label": "Greenhouse <north>" }).to_string();
    assert_eq!(post_json(&s.url("/api/v1/ports/label"), &body).status, 200);
    let named =
        || get(&s.url("/api/v1/sensors")).json()["sensors"][0]["name"] == "Greenhouse <north>";
    wait_for("labelled readings", Duration::from_secs(5), named);
    let too_long = serde_json::json!({ "id": id, "label": "x".repeat(101) }).to_string();
    assert_eq!(
        post_json(&s.url("/api/v1/ports/label"), &too_long).status,
        400
    );
    assert!(s.terminate().success());
    let s = Server::start_on(&db, &serial);
    wait_for("port seen", Duration::from_secs(5), || {
        port(&s)["label"] == "Greenhouse <north>"
    });
}

/// A user who may not open the board's port is told why and how to fix it, in the API and in
/// `clima-server ports`. Needs root to create that user and hand the port to `dialout`.
#[cfg(target_os = "linux")]
#[test]
fn a_port_this_user_may_not_open_says_why_and_how_to_fix_it() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    let Some((uid, gid, dialout)) = unprivileged_user("clima-it") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = dir.path().join("board");
    let _b = board(&link, BoardFormat::Bme280, None);
    // As a USB serial device is: read and write for root and the group dialout only.
    let device = std::fs::canonicalize(&link).unwrap();
    std::os::unix::fs::chown(&device, Some(0), Some(dialout)).unwrap();
    std::fs::set_permissions(&device, std::fs::Permissions::from_mode(0o660)).unwrap();
    let data = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(data.path(), Some(uid), Some(gid)).unwrap();
    // The build folder may sit where the user may not go (under /root): run a copy.
    let server = data.path().join("clima-server");
    std::fs::copy(env!("CARGO_BIN_EXE_clima-server"), &server).unwrap();
    let db = data.path().join("clima.db");
    let as_user = |cmd: &mut Command| {
        cmd.uid(uid).gid(gid).env("HOME", data.path());
    };

    let mut cmd = Command::new(&server);
    cmd.arg("--db").arg(&db).args([
        "--listen",
        "127.0.0.1:0",
        "--serial",
        link.to_str().unwrap(),
    ]);
    as_user(&mut cmd);
    let s = Server::spawn(cmd, &db);
    wait_for("the refused port", Duration::from_secs(10), || {
        port(&s)["status"] == "error"
    });
    let p = port(&s);
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("permission denied") && detail.contains("group 'dialout'"),
        "{p}"
    );
    assert!(
        p["hint"]
            .as_str()
            .unwrap()
            .starts_with("run `sudo usermod -aG dialout $USER`, then log out and back in"),
        "{p}"
    );
    assert_eq!(p["readings"], 0);

    let ports = |user: bool| {
        let mut cmd = Command::new(&server);
        cmd.arg("ports").arg(&link);
        if user {
            as_user(&mut cmd);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let listed = ports(true);
    assert!(
        listed.contains(&format!(
            "permission denied: {} may be opened by the group 'dialout'",
            link.display()
        )) && listed.contains("fix: run `sudo usermod -aG dialout $USER`"),
        "{listed}"
    );
    // Root may open it: no complaint.
    let listed = ports(false);
    assert!(
        listed.contains(link.to_str().unwrap()) && !listed.contains("permission denied"),
        "{listed}"
    );
}

/// The uid and gid of `name`, a user without a home or a login created if missing, and the gid
/// of `dialout`; `None`, said on stderr, where users cannot be created (not root).
#[cfg(target_os = "linux")]
fn unprivileged_user(name: &str) -> Option<(u32, u32, u32)> {
    use std::process::Command;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: creating a user needs root (tests run as root in CI)");
        return None;
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, name]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if id("-u").is_none() {
        // Another test process may create it at the same moment: "exists" (9) is fine too.
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ])
            .status();
        if !matches!(status.map(|s| s.code()), Ok(Some(0 | 9))) {
            eprintln!("skipped: useradd could not create the user {name}");
            return None;
        }
    }
    let out = Command::new("getent")
        .args(["group", "dialout"])
        .output()
        .ok()?;
    let dialout = String::from_utf8_lossy(&out.stdout)
        .split(':')
        .nth(2)
        .and_then(|g| g.trim().parse().ok())
        .expect("the group dialout (Debian and Ubuntu have it)");
    Some((id("-u")?, id("-g")?, dialout))
}
