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
];

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
        run(&mut conn, &path).unwrap();
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
        let hours: Vec<(i64, f64, f64, i64)> = conn
            .prepare("SELECT t, min, max, count FROM rollup_hour ORDER BY t")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            hours,
            vec![
                (1795683600000, 20.0, 30.0, 3),
                (1795687200000, 10.0, 10.0, 1)
            ]
        );
    }
}
