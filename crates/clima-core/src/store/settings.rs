//! Rows of the `settings` table that a front door keeps between runs (the stored ingest
//! token). Uses its own short-lived connection, before the engine starts: only the writer
//! thread writes while the engine runs.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// The key of the generated ingest token (the desktop app's, and `clima-server --token auto`).
pub const INGEST_TOKEN: &str = "ingest_token";

/// The ingest token kept in the database at `path`, generated and stored on first use. Call it
/// before [`crate::Engine::start`] (see [`get_or_create`]).
pub fn stored_token(path: &Path) -> Result<crate::config::Token, StoreError> {
    let stored = get_or_create(path, INGEST_TOKEN, || {
        crate::config::Token::generate().expose().to_owned()
    })?;
    crate::config::Token::new(stored).map_err(|e| {
        StoreError::Failed(format!(
            "the stored ingest token is unusable ({e}): regenerate it with `clima-server token --regenerate`, or pass --token"
        ))
    })
}

/// Reads one setting.
pub fn get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Writes one setting, replacing any earlier value.
pub fn set(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )?;
    Ok(())
}

/// The value stored under `key`, or the one `make` creates, stored first. Opens (creating and
/// migrating if needed) the database at `path` and closes it again: call it before
/// [`crate::Engine::start`], never while an engine runs on the same file.
pub fn get_or_create(
    path: &Path,
    key: &str,
    make: impl FnOnce() -> String,
) -> Result<String, StoreError> {
    let conn = super::open(path)?;
    if let Some(v) = get(&conn, key)? {
        return Ok(v);
    }
    let value = make();
    set(&conn, key, &value)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("clima.db");
        let first = get_or_create(&db, INGEST_TOKEN, || "first-token".into()).unwrap();
        let again = get_or_create(&db, INGEST_TOKEN, || {
            unreachable!("kept from the first run")
        })
        .unwrap();
        assert_eq!(
            (first.as_str(), again.as_str()),
            ("first-token", "first-token")
        );

        let conn = crate::store::open(&db).unwrap();
        set(&conn, INGEST_TOKEN, "second").unwrap();
        assert_eq!(get(&conn, INGEST_TOKEN).unwrap().as_deref(), Some("second"));
        assert_eq!(get(&conn, "missing").unwrap(), None);
        // The migration's own row is untouched.
        assert!(get(&conn, "recent_horizon").unwrap().is_some());
    }
}
