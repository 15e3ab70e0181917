//! The SQLite store: opening and migrating the database file, the single writer thread that
//! group-commits readings, and read-only queries.

pub mod alerts;
pub mod export;
mod layout;
mod migrate;
pub mod outbox;
mod query;
pub mod settings;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use query::{MetricLatest, Reader, SensorInfo};
pub use writer::{
    spawn_writer, Conflict, Done, Durability, Receipt, Retention, Source, SourceCounts,
    WriteHandle, WriteStats, WriterConfig, KEEP_MINUTE_KEY, KEEP_RAW_KEY,
};

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created.
    #[error("cannot open database {path}: {source}; check that the folder exists and is writable, or pass --db PATH")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The file was written by a newer Clima.
    #[error("database {path} has schema version {found}, newer than the {supported} this Clima knows: upgrade Clima, or pass --db with another file")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A migration failed; the database is left at the previous version.
    #[error("migrating database to version {version} failed: {source}")]
    Migration {
        version: i64,
        source: rusqlite::Error,
    },
    /// The disk or the file system refused the write.
    #[error("the database disk is full or read-only ({0}): free space or fix permissions; ingest resumes by itself")]
    Full(String),
    /// A commit failed for another reason; nothing of it was stored.
    #[error("writing to the database failed ({0}); nothing of this request was stored, retry it")]
    Failed(String),
    /// The writer has stopped (shutdown in progress).
    #[error("the store is shutting down: retry in a moment")]
    Stopped,
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

/// Failures caused by the environment (disk full, read-only, I/O) become [`StoreError::Full`],
/// wherever they happen, so that every caller sees what to do about them.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(DiskFull | ReadOnly | CannotOpen | SystemIoFailure) => {
                StoreError::Full(e.to_string())
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

impl StoreError {
    /// The error to give each caller whose write was in a failed group commit.
    fn for_each_caller(&self) -> StoreError {
        match self {
            StoreError::Full(m) => StoreError::Full(m.clone()),
            StoreError::Stopped => StoreError::Stopped,
            other => StoreError::Failed(other.to_string()),
        }
    }
}

/// Opens (creating if needed) and migrates the database, returning the writer's connection.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let mut conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(open_err)?;
    // A new file lets go of the space that sealing and pruning free (see the writer's
    // maintenance); this can only be chosen before the first table exists.
    let pages: i64 = conn
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .map_err(open_err)?;
    if pages == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(open_err)?;
    }
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
        .map_err(open_err)?;
    // WAL + NORMAL: a commit survives the process being killed; only a power cut can lose the
    // last commits (see ARCHITECTURE.md).
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_err)?;
    migrate::run(&mut conn, path)?;
    Ok(conn)
}

/// The page cache of each read-only connection, in KiB (SQLite's default is 2,000). Under
/// ingest it holds little for long: a commit empties every reader's cache at its next read. Its
/// pages are the app's own memory, so they are capped: the query pool and each forwarder hold a
/// reader, and the desktop window's charts query on several at once.
pub(crate) const READER_CACHE_KIB: i64 = 1024;

/// Opens a read-only connection to a database that [`open`] has prepared.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
    Ok(conn)
}
