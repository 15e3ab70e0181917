//! A database written by the previous release (version-1 chunks, pieces, late and recent
//! samples, rollups) reads back exactly, before and after the new writer has sealed it again.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use clima_model::chunk;
use clima_model::timestamp::from_rfc3339;
use rusqlite::Connection;

use crate::util::*;

/// Each series' samples, keyed by sensor and metric: measured time, receipt, value bits.
type Stored = BTreeMap<(String, String), Vec<(i64, i64, u64)>>;

/// Every sample in the file, read from the tables themselves.
fn stored(db: &Path) -> Stored {
    let c = Connection::open(db).unwrap();
    let mut out = Stored::new();
    let mut add = |key: (String, String), s: chunk::Sample| {
        out.entry(key)
            .or_default()
            .push((s.at, s.received_at, s.value.to_bits()));
    };
    let named = "JOIN series m ON m.id = t.series_id JOIN sensors s ON s.id = m.sensor_id";
    for table in ["chunks", "pieces"] {
        let mut stmt = c
            .prepare(&format!(
                "SELECT s.key, m.metric, t.data FROM {table} t {named}"
            ))
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let data: Vec<u8> = r.get(2).unwrap();
            for s in chunk::decode(&data).unwrap() {
                add((r.get(0).unwrap(), r.get(1).unwrap()), s);
            }
        }
    }
    for table in ["samples", "recent_samples"] {
        let mut stmt = c
            .prepare(&format!(
                "SELECT s.key, m.metric, t.measured_at, t.received_at, t.value FROM {table} t {named}"
            ))
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let sample = chunk::Sample {
                at: r.get(2).unwrap(),
                received_at: r.get(3).unwrap(),
                value: r.get(4).unwrap(),
            };
            add((r.get(0).unwrap(), r.get(1).unwrap()), sample);
        }
    }
    for samples in out.values_mut() {
        samples.sort();
    }
    out
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Each series as `clima-server export` writes it, parsed back.
fn exported(db: &Path, series: &Stored) -> Stored {
    let mut out = Stored::new();
    for (sensor, metric) in series.keys() {
        let run = Command::new(env!("CARGO_BIN_EXE_clima-server"))
            .args([
                "export",
                "--db",
                db.to_str().unwrap(),
                "--sensor",
                sensor,
                "--metric",
            ])
            .args([
                metric,
                "--from",
                "2026-11-30T00:00:00Z",
                "--to",
                "2026-12-02T00:00:00Z",
            ])
            .args(["--out", "-"])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text = String::from_utf8(run.stdout).unwrap();
        let rows = text.lines().skip(1).map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let value: f64 = f[5].parse().unwrap();
            (
                from_rfc3339(f[3]).unwrap(),
                from_rfc3339(f[4]).unwrap(),
                value.to_bits(),
            )
        });
        out.insert((sensor.clone(), metric.clone()), rows.collect());
    }
    out
}

/// Five-minute buckets over the fixture's six hours: (start, count, min, max, mean).
type Buckets = Vec<(i64, u64, Option<f64>, Option<f64>, Option<f64>)>;
const MINUTES_FROM: &str = "2026-12-01T06:00:00Z";
const MINUTES_TO: &str = "2026-12-01T12:00:00Z";
const FIVE_MINUTES: i64 = 300_000;

/// What the previous release answered for five-minute buckets: its minute rollup rows and the
/// recent rows, read from the file before the migration.
fn old_minute_buckets(db: &Path, sensor: &str, metric: &str) -> Buckets {
    let from = from_rfc3339(MINUTES_FROM).unwrap();
    let n = (from_rfc3339(MINUTES_TO).unwrap() - from) / FIVE_MINUTES;
    let c = Connection::open(db).unwrap();
    let mut acc: Vec<(f64, f64, f64, u64)> =
        vec![(0.0, f64::INFINITY, f64::NEG_INFINITY, 0); n as usize];
    let series = "(SELECT m.id FROM series m JOIN sensors s ON s.id = m.sensor_id WHERE s.key = ?1 AND m.metric = ?2)";
    for sql in [
        format!("SELECT t, sum, min, max, count FROM rollup_minute WHERE series_id = {series}"),
        format!("SELECT measured_at, value, value, value, 1 FROM recent_samples WHERE series_id = {series}"),
    ] {
        let mut stmt = c.prepare(&sql).unwrap();
        let mut rows = stmt.query((sensor, metric)).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let i = (r.get::<_, i64>(0).unwrap() - from) / FIVE_MINUTES;
            let Some(b) = acc.get_mut(i as usize) else { continue };
            b.0 += r.get::<_, f64>(1).unwrap();
            b.1 = b.1.min(r.get(2).unwrap());
            b.2 = b.2.max(r.get(3).unwrap());
            b.3 += r.get::<_, i64>(4).unwrap() as u64;
        }
    }
    acc.into_iter()
        .enumerate()
        .map(|(i, (sum, min, max, count))| {
            let t = from + i as i64 * FIVE_MINUTES;
            match count {
                0 => (t, 0, None, None, None),
                _ => (t, count, Some(min), Some(max), Some(sum / count as f64)),
            }
        })
        .collect()
}

/// Five-minute buckets as the server answers them now.
fn served_minute_buckets(s: &Server, sensor: &str, metric: &str) -> Buckets {
    let r = get(&s.url(&format!(
        "/api/v1/readings?sensor={sensor}&metric={metric}&from={MINUTES_FROM}&to={MINUTES_TO}&points=72"
    )))
    .json();
    r["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["t"].as_i64().unwrap(),
                p["count"].as_u64().unwrap(),
                p["min"].as_f64(),
                p["max"].as_f64(),
                p["mean"].as_f64(),
            )
        })
        .collect()
}

/// Counts, minima and maxima to the bit; means to 1e-9 (sums may be added in another order).
fn same_minutes(got: &Buckets, want: &Buckets, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        let means = match (g.4, w.4) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (a, b) => a == b,
        };
        assert!(
            (g.0, g.1, g.2, g.3) == (w.0, w.1, w.2, w.3) && means,
            "{what}: {g:?} != {w:?}"
        );
    }
}

#[test]
fn a_database_from_the_previous_release_reads_back_exactly_once_resealed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/before-pco-chunks.db"
    );
    std::fs::copy(fixture, &db).unwrap();
    // The fixture holds every kind of place, all in version-1 chunks.
    for table in [
        "chunks",
        "pieces",
        "samples",
        "recent_samples",
        "rollup_minute",
    ] {
        assert!(
            count(&db, &format!("SELECT count(*) FROM {table}")) > 0,
            "{table}"
        );
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM chunks WHERE substr(data, 1, 1) = x'02'"
        ),
        0
    );
    let before = stored(&db);
    // Read before anything opens (and so migrates) the file.
    let old_minutes: BTreeMap<_, _> = before
        .keys()
        .map(|(sensor, metric)| {
            let buckets = old_minute_buckets(&db, sensor, metric);
            assert!(buckets.iter().any(|b| b.1 > 0), "{sensor} {metric}");
            ((sensor.clone(), metric.clone()), buckets)
        })
        .collect();
    assert_eq!(before.values().map(Vec::len).sum::<usize>(), 4549);
    let inexact = before[&("cellar".to_owned(), "temperature".to_owned())]
        .iter()
        .filter(|s| f64::from_bits(s.2) == 0.1 + 0.2 + 12.0)
        .count();
    assert!(inexact > 5, "the fixture's inexact values");
    assert_eq!(exported(&db, &before), before, "read as it was written");

    // The new release moves the recent samples and seals every hour that ended more than an hour
    // ago (the late sample's hour again, in version 2 where that is smaller).
    let s = Server::start_on(
        &db,
        &[
            "--serial",
            "off",
            "--keep-raw",
            "forever",
            "--keep-minute",
            "forever",
        ],
    );
    // Migrated (minute rollups packed per hour where they pay), not yet resealed.
    for ((sensor, metric), want) in &old_minutes {
        let got = served_minute_buckets(&s, sensor, metric);
        same_minutes(&got, want, &format!("{sensor} {metric}, migrated"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(
        &db,
        "SELECT (SELECT count(*) FROM pieces WHERE first < unixepoch() * 1000 - 7200000)
             + (SELECT count(*) FROM samples) + (SELECT count(*) FROM recent_samples)",
    ) > 0
    {
        assert!(Instant::now() < deadline, "not sealed: {}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The rollups still sum exactly the samples: an hourly chart counts each of them.
    for ((sensor, metric), samples) in &before {
        let r = get(&s.url(&format!(
            "/api/v1/readings?sensor={sensor}&metric={metric}&from=2026-12-01T06:00:00Z&to=2026-12-01T12:00:00Z&points=6"
        )))
        .json();
        let counted: u64 = r["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(counted, samples.len() as u64, "{sensor} {metric}: {r}");
    }
    for ((sensor, metric), want) in &old_minutes {
        let got = served_minute_buckets(&s, sensor, metric);
        same_minutes(&got, want, &format!("{sensor} {metric}, resealed"));
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM minute_rollups"),
        0,
        "the fixture's sensors report every 10 s: their chunks answer minute-wide buckets"
    );
    assert!(s.terminate().success());
    assert!(
        count(
            &db,
            "SELECT count(*) FROM chunks WHERE substr(data, 1, 1) = x'02'"
        ) > 0
    );
    assert_eq!(
        stored(&db),
        before,
        "every sample and both times, to the bit"
    );
    assert_eq!(exported(&db, &before), before);
}
