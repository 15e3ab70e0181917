//! Sensor housekeeping through the HTTP API: a display name and a hidden flag (kept across a
//! restart), deletion (only with `?confirm=ID`) and merging one sensor's history into another,
//! each leaving no row of the removed sensor in any table (samples, pieces, chunks, rollups,
//! forward log).

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::util::*;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn reading(sensor: &str, at: i64, t: f64) -> String {
    format!(r#"{{"sensor":"{sensor}","temperature":{t},"measured_at":{at}}}"#)
}

fn sensors(s: &Server) -> Vec<Value> {
    get(&s.url("/api/v1/sensors")).json()["sensors"]
        .as_array()
        .unwrap()
        .clone()
}

/// Rows of `table` whose series no longer exists.
fn orphans(db: &Path, table: &str) -> i64 {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row(
        &format!("SELECT count(*) FROM {table} WHERE series_id NOT IN (SELECT id FROM series)"),
        [],
        |r| r.get(0),
    )
    .unwrap()
}

const TABLES: [&str; 7] = [
    "recent_samples",
    "samples",
    "pieces",
    "chunks",
    "rollup_hour",
    "minute_rollups",
    "hour_rollups",
];

/// Entries of the forward log whose series no longer exists and that are not marked deleted,
/// and entries marked deleted.
fn log_orphans(db: &Path) -> (usize, usize) {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let series: Vec<i64> = c
        .prepare("SELECT id FROM series")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let blobs: Vec<Vec<u8>> = c
        .prepare("SELECT entries FROM forward_batches")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let entries: Vec<_> = blobs
        .iter()
        .flat_map(|b| clima_model::forward::unpack(b).unwrap())
        .collect();
    let deleted = entries
        .iter()
        .filter(|e| e.0 == clima_model::forward::DELETED_SERIES)
        .count();
    let orphans = entries
        .iter()
        .filter(|e| e.0 != clima_model::forward::DELETED_SERIES && !series.contains(&e.0))
        .count();
    (orphans, deleted)
}

fn rows(db: &Path, table: &str) -> i64 {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Sample count of a series over whole hours, from hour buckets (the hour rollups, plus
/// recent samples) and from 30-second buckets (raw samples): both must agree.
fn counts(s: &Server, sensor: &str, from: i64, to: i64) -> (u64, u64) {
    let sum = |q: String| -> u64 {
        let r = get(&s.url(&q));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_u64().unwrap())
            .sum()
    };
    let hours = (to - from) / HOUR;
    let base = format!("/api/v1/readings?sensor={sensor}&metric=temperature&from={from}&to={to}");
    (
        sum(format!("{base}&points={hours}")),
        sum(format!("{base}&points={}", (to - from) / 30_000)),
    )
}

#[test]
fn rename_and_hide_are_kept_and_refusals_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let s = Server::start_on(&db, &[]);
    post_batch(
        &s,
        &[r#"{"sensor":"esp-1","name":"Board","temperature":21}"#.into()],
    );
    let r = post_json(
        &s.url("/api/v1/sensors/name"),
        r#"{"sensor":"esp-1","name":"  Living room "}"#,
    );
    assert_eq!(
        (r.status, r.json()["name"].as_str()),
        (200, Some("Living room")),
        "{}",
        r.body
    );
    let r = post_json(
        &s.url("/api/v1/sensors/hidden"),
        r#"{"sensor":"esp-1","hidden":true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A hidden sensor is still collected.
    post_batch(&s, &[r#"{"sensor":"esp-1","temperature":22}"#.into()]);
    s.terminate();

    let s = Server::start_on(&db, &[]);
    let info = sensor_info(&s, "esp-1");
    assert_eq!(
        (&info["display_name"], &info["name"], &info["hidden"]),
        (
            &Value::from("Living room"),
            &Value::from("Board"),
            &Value::from(true)
        ),
        "{info}"
    );
    assert_eq!(stored_count(&s, "esp-1", "temperature"), 2);
    // The device's name stays its own; an empty name and hidden=false undo both.
    post_json(
        &s.url("/api/v1/sensors/name"),
        r#"{"sensor":"esp-1","name":""}"#,
    );
    post_json(
        &s.url("/api/v1/sensors/hidden"),
        r#"{"sensor":"esp-1","hidden":false}"#,
    );
    let info = sensor_info(&s, "esp-1");
    assert!(
        info.get("display_name").is_none() && info.get("hidden").is_none(),
        "{info}"
    );

    let r = post_json(
        &s.url("/api/v1/sensors/name"),
        r#"{"sensor":"nope","name":"x"}"#,
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("unknown_sensor"))
    );
    let long = "x".repeat(500);
    let r = post_json(
        &s.url("/api/v1/sensors/name"),
        &format!(r#"{{"sensor":"esp-1","name":"{long}"}}"#),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_name")),
        "{}",
        r.body
    );
}

#[test]
fn delete_needs_confirmation_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let s = Server::start_on(&db, &[]);
    let t0 = (now() - 2 * 86_400_000) / HOUR * HOUR;
    let items: Vec<String> = (0..200)
        .map(|i| reading("gone", t0 + i * 5 * MINUTE, 20.0 + (i % 7) as f64))
        .chain([reading("gone", now() - 5_000, 19.0)])
        .chain([reading("kept", now() - 5_000, 18.0)])
        .collect();
    post_batch(&s, &items);
    post_json(
        &s.url("/api/v1/sensors/calibration"),
        r#"{"sensor":"gone","metric":"temperature","offset":1}"#,
    );

    let r = call("DELETE", &s.url("/api/v1/sensors/gone"), &[], None);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("confirmation_required"))
    );
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("?confirm=gone"));
    let r = call(
        "DELETE",
        &s.url("/api/v1/sensors/gone?confirm=kept"),
        &[],
        None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(stored_count(&s, "gone", "temperature"), 201);

    let r = call(
        "DELETE",
        &s.url("/api/v1/sensors/gone?confirm=gone"),
        &[],
        None,
    );
    assert_eq!(
        (r.status, r.json()["deleted"].as_str()),
        (200, Some("gone")),
        "{}",
        r.body
    );
    let r = call(
        "DELETE",
        &s.url("/api/v1/sensors/gone?confirm=gone"),
        &[],
        None,
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("unknown_sensor"))
    );
    let ids: Vec<_> = sensors(&s).iter().map(|x| x["sensor"].clone()).collect();
    assert_eq!(ids, [Value::from("kept")]);
    let r = get(&s.url("/api/v1/readings?sensor=gone&metric=temperature"));
    assert_eq!(r.status, 404);

    // The same id sending again starts afresh: no old sample, rollup or calibration counts.
    post_batch(&s, &[reading("gone", t0 + 5 * MINUTE, 30.0)]);
    let (hourly, raw) = counts(&s, "gone", t0, t0 + 49 * HOUR);
    assert_eq!((hourly, raw), (1, 1));
    let m = &sensor_info(&s, "gone")["metrics"][0];
    assert_eq!(
        (m["value"].as_f64(), m.get("calibration")),
        (Some(30.0), None),
        "{m}"
    );
    s.terminate();
    for table in TABLES {
        assert_eq!(orphans(&db, table), 0, "{table}");
    }
}

#[test]
fn merge_moves_every_sample_reports_conflicts_and_keeps_tables_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let s = Server::start_on(&db, &["--forward", "http://127.0.0.1:9/write?db=clima"]);
    let t0 = (now() - 3 * 86_400_000) / HOUR * HOUR;
    // The old id: two days of readings every 10 minutes (packed into pieces, then sealed into
    // chunks), a late one (the `samples` table) and a recent one.
    let old: Vec<String> = (0..288)
        .map(|i| {
            reading(
                "esp-old",
                t0 + i * 10 * MINUTE,
                20.0 + (i % 5) as f64 * 0.25,
            )
        })
        .collect();
    post_batch(&s, &old);
    post_batch(&s, &[reading("esp-old", t0 + 5 * MINUTE, 19.5)]);
    post_batch(&s, &[reading("esp-old", now() - 10_000, 21.0)]);
    // The new id took over at the end, with one reading at a time the old one has too (the
    // same value: a duplicate) and one with another value (a conflict: the new one stands).
    let new: Vec<String> = (280..300)
        .map(|i| reading("esp-new", t0 + i * 10 * MINUTE + 60_000, 22.0))
        .chain([
            reading("esp-new", t0 + 100 * 10 * MINUTE, 20.0),
            reading("esp-new", t0 + 101 * 10 * MINUTE, 25.0),
        ])
        .collect();
    post_batch(&s, &new);
    post_json(
        &s.url("/api/v1/sensors/name"),
        r#"{"sensor":"esp-new","name":"Bedroom"}"#,
    );
    // Wait until the writer has sealed some of the old hours into chunks.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rows(&db, "chunks") == 0 {
        assert!(Instant::now() < deadline, "no chunk sealed within 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (from, to) = (t0 - HOUR, (now() / HOUR + 1) * HOUR);
    assert_eq!(counts(&s, "esp-old", from, to).0, 290);
    assert_eq!(counts(&s, "esp-new", from, to).0, 22);

    let r = post_json(
        &s.url("/api/v1/sensors/merge"),
        r#"{"from":"esp-old","into":"esp-old"}"#,
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("same_sensor"))
    );
    let r = post_json(
        &s.url("/api/v1/sensors/merge"),
        r#"{"from":"nope","into":"esp-new"}"#,
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("unknown_sensor"))
    );

    let r = post_json(
        &s.url("/api/v1/sensors/merge"),
        r#"{"from":"esp-old","into":"esp-new"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    assert_eq!(
        (
            m["accepted"].as_u64(),
            m["duplicates"].as_u64(),
            m["conflicts"].as_u64()
        ),
        (Some(288), Some(1), Some(1)),
        "{m}"
    );
    let c = &m["conflicting"][0];
    assert_eq!(
        (
            c["sensor"].as_str(),
            c["measured_at"].as_i64(),
            c["stored"].as_f64(),
            c["sent"].as_f64()
        ),
        (
            Some("esp-new"),
            Some(t0 + 101 * 10 * MINUTE),
            Some(25.0),
            Some(20.25)
        ),
        "{c}"
    );

    // One sensor left, keeping its name; every old sample is there once, by rollups and raw.
    let listed = sensors(&s);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["display_name"], "Bedroom");
    let (hourly, raw) = counts(&s, "esp-new", from, to);
    assert_eq!((hourly, raw), (288 + 22, 288 + 22));
    assert_eq!(stored_count(&s, "esp-new", "temperature"), 288 + 22);
    // Its latest value is the newest of both: the old id's recent reading.
    assert_eq!(sensor_info(&s, "esp-new")["metrics"][0]["value"], 21.0);
    let csv = get(&s.url(&format!(
        "/api/v1/export.csv?sensor=esp-new&metric=temperature&from={t0}&to={}",
        t0 + 6 * HOUR
    )));
    assert!(
        csv.body.contains(",19.5\n") || csv.body.contains(",19.5\r\n"),
        "{}",
        csv.body
    );
    s.terminate();
    for table in TABLES {
        assert_eq!(orphans(&db, table), 0, "{table}");
    }
    // The old id's entries in the forward log (a forwarder runs, its target down) are marked
    // deleted, never sent under a series that might take their id.
    let (orphaned, deleted) = log_orphans(&db);
    assert_eq!(orphaned, 0);
    assert!(deleted >= 290, "{deleted}");
}

/// A long merge does not hold ingest for its whole length: readings posted meanwhile are
/// answered between its batches; and readings the old id sends meanwhile, for hours the copy has
/// passed already, are moved too (none is lost when the old id is deleted at the end).
#[test]
fn merge_lets_ingest_through_and_loses_no_reading_sent_meanwhile() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let s = Arc::new(Server::start_on(&db, &["--keep-raw", "forever"]));
    const N: i64 = 150_000;
    let t0 = (now() - N * 10_000 - HOUR) / HOUR * HOUR;
    for chunk in (0..N).collect::<Vec<_>>().chunks(5_000) {
        let items: Vec<String> = chunk
            .iter()
            .map(|i| reading("esp-old", t0 + i * 10_000, 20.0 + (i % 7) as f64 * 0.5))
            .collect();
        post_batch(&s, &items);
    }
    post_batch(&s, &[reading("esp-new", now(), 21.0)]);

    let merging = Arc::new(AtomicBool::new(true));
    let sender = {
        let (s, merging) = (s.clone(), merging.clone());
        std::thread::spawn(move || {
            // The longest wait of a probe reading, and the old-id readings stored, while the
            // merge runs.
            let (mut longest, mut late) = (Duration::ZERO, 0i64);
            while merging.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let r = post_json(
                    &s.url("/api/v1/readings"),
                    &format!(r#"{{"sensor":"probe","temperature":{}}}"#, late % 10),
                );
                assert_eq!(r.status, 201, "{}", r.body);
                if merging.load(Ordering::SeqCst) {
                    longest = longest.max(sent.elapsed());
                }
                // Five seconds after an early history reading: a time the copy passed first.
                let at = t0 + late * 10_000 + 5_000;
                let r = post_json(&s.url("/api/v1/readings"), &reading("esp-old", at, 30.0));
                assert_eq!(r.status, 201, "{}", r.body);
                late += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            (longest, late)
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let r = post_json(
        &s.url("/api/v1/sensors/merge"),
        r#"{"from":"esp-old","into":"esp-new"}"#,
    );
    let took = started.elapsed();
    merging.store(false, Ordering::SeqCst);
    let (longest, late) = sender.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // Held for the whole merge, a reading posted as it starts waits about as long as it.
    assert!(
        longest * 4 < took,
        "a probe reading waited {longest:?} during a merge of {took:?}"
    );
    eprintln!("longest probe wait {longest:?}, {late} old-id readings, during a merge of {took:?}");
    // The last old-id readings may have been sent after the merge ended (before its answer
    // came back): they start a new esp-old, as any reading of the old id does after a merge.
    let after: u64 = if sensors(&s).iter().any(|x| x["sensor"] == "esp-old") {
        stored_count(&s, "esp-old", "temperature")
    } else {
        0
    };
    assert!(
        after < late as u64,
        "{after} of {late} old-id readings after the merge"
    );
    assert_eq!(
        stored_count(&s, "esp-new", "temperature") + after,
        (N + 1 + late) as u64
    );
    assert_eq!(r.json()["conflicts"], 0, "{}", r.body);
}
