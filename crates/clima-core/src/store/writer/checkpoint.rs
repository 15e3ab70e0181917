//! The checkpointer: copies committed WAL pages into the database file on a thread and
//! connection of its own, so that a commit never waits for it, and gives a grown WAL file's space
//! back once everything in it is copied.

use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// Copies committed WAL pages into the database file in the background.
pub(super) struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: JoinHandle<()>,
}

/// How often the checkpointer runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// WAL frames beyond which a fully copied WAL is truncated. The writer's `journal_size_limit`
/// cuts the file back only when the next commit starts the WAL over, so after a bulk load with
/// nothing written next, the file would stay at the load's size (a gigabyte and more).
const TRUNCATE_ABOVE_FRAMES: i64 = 1024;

/// One round: a passive checkpoint (it never waits for anyone), then, if that copied every
/// frame of a large WAL, a truncating one. With no busy timeout on this connection, the
/// truncating checkpoint gives up at once rather than wait for a writer or a reader, and is
/// tried again the next round.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    let (busy, frames, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy == 0 && frames > TRUNCATE_ABOVE_FRAMES && copied == frames {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
}

impl Checkpointer {
    pub(super) fn spawn(path: std::path::PathBuf) -> Result<Checkpointer, StoreError> {
        use std::sync::atomic::Ordering;
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        // Never wait for a lock: a checkpoint that cannot run now runs the next round.
        conn.busy_timeout(Duration::ZERO)
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("clima-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    // PASSIVE never waits for the writer or readers; what it cannot copy now it
                    // copies next time.
                    if let Err(e) = checkpoint(&conn) {
                        tracing::debug!(error = %e, "checkpoint deferred");
                    }
                }
            })
            .map_err(|e| StoreError::Failed(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop, thread })
    }

    pub(super) fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_bytes(db: &std::path::Path) -> u64 {
        std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len())
    }

    /// A bulk load leaves a WAL of many megabytes with nothing written after it: the
    /// checkpointer copies it and gives the file's space back without a commit to start it over.
    #[test]
    fn a_large_wal_is_truncated_once_copied_without_another_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clima.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (b BLOB)").unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        for _ in 0..40 {
            tx.execute("INSERT INTO t VALUES (zeroblob(256 * 1024))", [])
                .unwrap();
        }
        tx.commit().unwrap();
        let before = wal_bytes(&path);
        assert!(before > 8 << 20, "the load's WAL: {before} bytes");

        let checkpointer = Checkpointer::spawn(path.clone()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while wal_bytes(&path) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        checkpointer.stop();
        assert_eq!(wal_bytes(&path), 0, "the WAL was {before} bytes");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 40);
    }
}
