//! Schema migrations: applies the numbered SQL files under `migrations/` in order and records the
//! version in SQLite's `user_version`.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Every migration, in order; the version of the schema is the length of this list.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../../migrations/0001_init.sql"),
    include_str!("../../../../migrations/0002_rollups.sql"),
    include_str!("../../../../migrations/0003_chunks.sql"),
    include_str!("../../../../migrations/0004_pieces.sql"),
    include_str!("../../../../migrations/0005_series_identity.sql"),
    include_str!("../../../../migrations/0006_chunks_in_rowid_pages.sql"),
    include_str!("../../../../migrations/0007_clock_derived.sql"),
    include_str!("../../../../migrations/0008_forward.sql"),
    include_str!("../../../../migrations/0009_alerts.sql"),
    include_str!("../../../../migrations/0010_rollups_packed.sql"),
    include_str!("../../../../migrations/0011_forward_batches.sql"),
];

/// What a migration does after its SQL, where SQL alone cannot (encoding blobs).
fn then(version: i64, tx: &Connection) -> rusqlite::Result<()> {
    match version {
        10 => {
            super::layout::pack_minute_rollups(tx)?;
            super::layout::pack_hour_rollups(tx)
        }
        11 => super::outbox::convert_log(tx),
        _ => Ok(()),
    }
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], refusing one that is newer.
pub fn run(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i64 + 1;
        let fail = |source| StoreError::Migration { version, source };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(sql).map_err(fail)?;
        then(version, &tx).map_err(fail)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        run(&mut conn, &path).unwrap();
        run(&mut conn, &path).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = run(&mut conn, &path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }));
        assert!(err.to_string().contains("upgrade Clima"), "{err}");
    }

    #[test]
    fn rollups_are_backfilled_from_version_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO sensors (id, key, source, first_seen, last_seen) VALUES (1, 's', 'http', 0, 0);
             INSERT INTO series (id, sensor_id, metric) VALUES (1, 1, 'temperature');
             INSERT INTO samples VALUES (1, 1795683600000, 20.0, 0), (1, 1795683630000, 22.0, 0),
                                        (1, 1795683660000, 30.0, 0), (1, 1795687200000, 10.0, 0);",
        )
        .unwrap();
        let upto = |conn: &mut Connection, version: usize| {
            for (i, sql) in MIGRATIONS.iter().enumerate().take(version).skip(1) {
                conn.execute_batch(sql).unwrap();
                then(i as i64 + 1, conn).unwrap();
            }
            conn.pragma_update(None, "user_version", version as i64)
                .unwrap();
        };
        upto(&mut conn, 2);
        let minutes: Vec<(i64, f64, i64)> = conn
            .prepare("SELECT t, sum, count FROM rollup_minute ORDER BY t")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            minutes,
            vec![
                (1795683600000, 42.0, 2),
                (1795683660000, 30.0, 1),
                (1795687200000, 10.0, 1)
            ]
        );
        run(&mut conn, &path).unwrap();
        // Hour rollups are packed per series and day since version 10.
        let hours: Vec<(i64, f64, f64, u64)> = conn
            .prepare("SELECT data FROM hour_rollups ORDER BY day")
            .unwrap()
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .flat_map(|d| clima_model::rollup::decode(&d.unwrap()).unwrap())
            .map(|h| (h.start, h.partial.min, h.partial.max, h.partial.count))
            .collect();
        assert_eq!(
            hours,
            vec![
                (1795683600000, 20.0, 30.0, 3),
                (1795687200000, 10.0, 10.0, 1)
            ]
        );
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM rollup_hour", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    /// A database at version 8 with minute rollup rows for every kind of hour.
    #[test]
    fn minute_rollups_are_packed_per_hour_where_they_pay() {
        use clima_model::chunk::{self, Sample};
        use clima_model::{rollup, HOUR, MINUTE};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v8.db");
        let mut conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..8] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 8).unwrap();
        conn.execute_batch(
            "INSERT INTO sensors (id, key, source, first_seen, last_seen) VALUES (1, 's', 'http', 0, 0);
             INSERT INTO series (id, sensor_id, metric) VALUES (1, 1, 'temperature');",
        )
        .unwrap();
        let h0 = 1_795_683_600_000;
        let every = |hour: i64, step: i64| -> Vec<Sample> {
            (0..HOUR / step)
                .map(|i| Sample {
                    at: h0 + hour * HOUR + i * step,
                    received_at: h0,
                    value: (i % 17) as f64 / 4.0,
                })
                .collect()
        };
        // Hour 0: pruned (rows only); 1: a 60 s chunk; 2: a 1 s chunk; 3: a 1 s chunk and a late
        // sample still in `samples`.
        let late = Sample {
            at: h0 + 3 * HOUR + 500,
            received_at: h0,
            value: 99.0,
        };
        let chunks = [
            (1, every(1, 60_000)),
            (2, every(2, 1_000)),
            (3, every(3, 1_000)),
        ];
        let mut rows: Vec<rollup::Period> = rollup::minutes(&every(0, 2_000));
        for (hour, samples) in &chunks {
            conn.execute(
                "INSERT INTO chunks (series_id, start, count, data) VALUES (1, ?1, ?2, ?3)",
                (
                    h0 + hour * HOUR,
                    samples.len() as i64,
                    chunk::encode(samples),
                ),
            )
            .unwrap();
            let mut with = samples.clone();
            if *hour == 3 {
                with.push(late);
                with.sort_by_key(|s| s.at);
            }
            rows.extend(rollup::minutes(&with));
        }
        conn.execute(
            "INSERT INTO samples VALUES (1, ?1, ?2, ?3)",
            (late.at, late.value, late.received_at),
        )
        .unwrap();
        for m in &rows {
            let p = m.partial;
            conn.execute(
                "INSERT INTO rollup_minute VALUES (1, ?1, ?2, ?3, ?4, ?5)",
                (m.start, p.sum, p.min, p.max, p.count as i64),
            )
            .unwrap();
        }
        run(&mut conn, &path).unwrap();
        let packed: Vec<(i64, Vec<rollup::Period>)> = conn
            .prepare("SELECT hour, data FROM minute_rollups ORDER BY hour")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, rollup::decode(&r.get::<_, Vec<u8>>(1)?).unwrap()))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let hours: Vec<i64> = packed.iter().map(|(h, _)| (h - h0) / HOUR).collect();
        assert_eq!(hours, [0, 2, 3], "the 60 s hour is read from its chunk");
        let in_hour = |h: i64| -> Vec<rollup::Period> {
            rows.iter()
                .copied()
                .filter(|m| m.start.div_euclid(HOUR) == (h0 + h * HOUR) / HOUR)
                .collect()
        };
        assert_eq!(packed[0].1, in_hour(0), "pruned: the rows are all there is");
        assert_eq!(packed[1].1, in_hour(2));
        assert_eq!(
            packed[2].1,
            rollup::minutes(&chunks[2].1),
            "the chunk's minutes; the late sample is read raw until sealed"
        );
        assert_eq!(packed[2].1.len(), (HOUR / MINUTE) as usize);
        let gone: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'rollup_minute'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(gone, 0);
    }

    #[test]
    fn a_pending_forward_log_keeps_its_numbers_and_gaps() {
        use crate::store::outbox::{LogReader, Outbox};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v10.db");
        let mut conn = Connection::open(&path).unwrap();
        for (i, sql) in MIGRATIONS.iter().enumerate().take(10) {
            conn.execute_batch(sql).unwrap();
            then(i as i64 + 1, &conn).unwrap();
        }
        conn.pragma_update(None, "user_version", 10).unwrap();
        // The old log: values 1 to 5, 6 and 7 removed by retention, 8 to 10, and 11 and 12
        // delivered and deleted (the largest number given stays 12). The target acknowledged 2.
        let mut values = vec![];
        for seq in (1..=5).chain(8..=10) {
            let series = 1 + seq % 2;
            values.push(format!("({seq}, {series}, {}, {}.5)", 1000 * seq, seq));
        }
        conn.execute_batch(&format!(
            "INSERT INTO sensors (id, key, name, source, first_seen, last_seen)
                 VALUES (1, 'kitchen', 'Kitchen', 'http', 0, 0);
             INSERT INTO series (id, sensor_id, metric) VALUES (1, 1, 'temperature'), (2, 1, 'humidity');
             INSERT INTO forward_log (seq, series_id, measured_at, value) VALUES {}, (12, 1, 1, 1.0);
             DELETE FROM forward_log WHERE seq = 12;
             INSERT INTO forwarders (target, cursor) VALUES ('http://127.0.0.1:8086/write?db=clima', 2);",
            values.join(", ")
        ))
        .unwrap();
        run(&mut conn, &path).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'forward_log'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
        let log = LogReader::open(&path).unwrap();
        let read = log.after(2, 100).unwrap();
        assert_eq!((read.from, read.to), (Some(3), 10));
        let got: Vec<(i64, &str, i64, f64)> = read
            .samples
            .iter()
            .map(|s| (s.seq, &*s.metric, s.measured_at, s.value))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "humidity", 3000, 3.5),
                (4, "temperature", 4000, 4.5),
                (5, "humidity", 5000, 5.5),
                (8, "temperature", 8000, 8.5),
                (9, "humidity", 9000, 9.5),
                (10, "temperature", 10000, 10.5),
            ]
        );
        assert_eq!(&*read.samples[0].sensor, "kitchen");
        assert_eq!(read.samples[0].name.as_deref(), Some("Kitchen"));
        // The gap stays a gap: after 5, the log goes on at 8.
        assert_eq!(log.after(5, 100).unwrap().from, Some(8));
        // The forwarder comes back at its cursor, and new values are numbered after 12.
        let outbox = Outbox::default();
        let cursor = outbox
            .register(&conn, "http://127.0.0.1:8086/write?db=clima", None)
            .unwrap();
        assert_eq!((cursor.delivered(), outbox.head()), (2, 12));
    }
}
