//! Starting, stopping and restarting: data survives, a newer schema is refused, an exposed port
//! without a token is refused (crashes are in `hardening`).

use std::process::Command;

use crate::util::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_clima-server"))
}

#[test]
fn restart_keeps_data_and_sigterm_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keep.db");
    let s = Server::start_on(&db, &[]);
    assert_eq!(
        post_json(&s.url("/api/v1/readings"), &fixture("http/batch.json")).status,
        201
    );
    let status = s.terminate();
    assert!(status.success(), "SIGTERM exit: {status:?}");
    let s = Server::start_on(&db, &[]);
    assert_eq!(stored_count(&s, "kitchen", "temperature"), 2);
    assert_eq!(stored_count(&s, "garage", "temperature"), 1);
    assert!(s.log().contains("clima engine started"));
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("future.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let out = bin()
        .arg("--db")
        .arg(&db)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schema version 999") && err.contains("upgrade Clima"),
        "{err}"
    );
}

#[test]
fn exposed_port_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("--db")
        .arg(dir.path().join("x.db"))
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("CLIMA_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without a token") && err.contains("--token"),
        "{err}"
    );
}

#[test]
fn help_documents_every_flag() {
    let out = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--db",
        "--listen",
        "--token",
        "CLIMA_TOKEN",
        "--rate-limit",
        "--throttle-ms",
        "600/1m",
        "8137",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}
