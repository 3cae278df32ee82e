//! [`SqliteStore`]: the single-machine [`Store`], one SQLite file in WAL mode.
//!
//! Two connections per file: a writer, behind a mutex, for appends and
//! changes, and a reader for queries, so a slow search never holds up the
//! audit appends on the hot path (WAL lets them run side by side). Appends
//! take SQLite's write lock up front (`BEGIN IMMEDIATE`), which serializes
//! them across processes too; `busy_timeout` makes a second process wait for
//! the lock instead of failing.

mod artifacts;
mod audit;
mod checkpoint;
mod migrations;
mod packs;
mod sessions;
mod usage;
mod vault;

use super::{
    ArtifactMeta, InstalledPack, SealedBlob, SessionRecord, SessionState, Store, StoreError, StoredCredential,
    Timestamp, UsageRow,
};
use crate::audit::{AuditEvent, AuditPage, AuditQuery, AuditRecord, AuditRow};
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a connection waits for another one's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] in one SQLite database file.
///
/// `synchronous=NORMAL` in WAL mode: a commit survives a crash of the
/// process, and a power loss can lose the last commits but never corrupts the
/// file (the audit chain of what remains still verifies).
pub struct SqliteStore {
    writer: Mutex<Connection>,
    /// `None` for an in-memory database, where a second connection would see
    /// a different database; reads then share the writer.
    reader: Option<Mutex<Connection>>,
    /// Background WAL checkpoints (file databases only); stops on drop.
    _checkpointer: Option<checkpoint::Checkpointer>,
}

impl SqliteStore {
    /// Open (creating it if needed) the database at `path` and bring its
    /// schema up to date. Safe to call from several processes at once.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        Self::open_file(path).map_err(|source| StoreError::Open { path: path.to_owned(), source: Box::new(source) })
    }

    /// A fresh, private in-memory database with the current schema, gone when
    /// dropped: for unit tests.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn)?;
        migrations::migrate(&mut conn)?;
        Ok(SqliteStore { writer: Mutex::new(conn), reader: None, _checkpointer: None })
    }

    fn open_file(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        // WAL is a property of the file, kept across opens; setting it again is a no-op.
        let mode: String = writer.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode; appends will block readers");
        }
        migrations::migrate(&mut writer)?;
        // Commits never checkpoint: the checkpoint thread does (see `checkpoint`).
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let reader = Connection::open(path)?;
        configure(&reader)?;
        reader.pragma_update(None, "query_only", true)?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            reader: Some(Mutex::new(reader)),
            _checkpointer: Some(checkpoint::Checkpointer::start(path)?),
        })
    }

    /// The schema version this build migrates databases to.
    pub fn schema_version() -> i64 {
        migrations::latest_version()
    }

    fn write(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding a connection rolled its transaction back on
        // unwind; the connection itself is still usable.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.as_ref().unwrap_or(&self.writer).lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Per-connection settings (WAL is per file and set in `open_file`).
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Room for every statement shape the queries build, so hot ones stay prepared.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// A stored microsecond count as a [`Timestamp`], or why the `what` row keyed
/// `key` is corrupt.
fn stored_time(micros: i64, what: &'static str, key: &str) -> Result<Timestamp, StoreError> {
    Timestamp::from_micros(micros)
        .ok_or_else(|| StoreError::corrupt(what, key, format!("time {micros} is out of range")))
}

impl Store for SqliteStore {
    fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError> {
        audit::append(&mut self.write(), event)
    }

    fn query_audit(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        audit::query(&self.read(), query)
    }

    fn read_audit_chain(&self, after_id: Option<i64>, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        audit::read_chain(&self.read(), after_id, limit)
    }

    fn upsert_pack(&self, pack: &InstalledPack) -> Result<(), StoreError> {
        pack.validate()?;
        packs::upsert(&self.write(), pack)
    }

    fn remove_pack(&self, name: &str, version: Option<&str>) -> Result<usize, StoreError> {
        packs::remove(&self.write(), name, version)
    }

    fn list_packs(&self) -> Result<Vec<InstalledPack>, StoreError> {
        packs::list(&self.read())
    }

    fn put_artifact(&self, meta: &ArtifactMeta) -> Result<(), StoreError> {
        meta.validate()?;
        artifacts::put(&self.write(), meta)
    }

    fn get_artifact(&self, id: &str) -> Result<ArtifactMeta, StoreError> {
        artifacts::get(&self.read(), id)
    }

    fn put_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        session.validate()?;
        sessions::put(&self.write(), session)
    }

    fn get_session(&self, id: &str) -> Result<SessionRecord, StoreError> {
        sessions::get(&self.read(), id)
    }

    fn list_sessions(&self, state: Option<SessionState>) -> Result<Vec<SessionRecord>, StoreError> {
        sessions::list(&self.read(), state)
    }

    fn put_credential(&self, credential: &StoredCredential) -> Result<(), StoreError> {
        credential.validate()?;
        vault::put(&self.write(), credential)
    }

    fn get_credential(&self, name: &str) -> Result<StoredCredential, StoreError> {
        vault::get(&self.read(), name)
    }

    fn list_credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        vault::list(&self.read())
    }

    fn delete_credential(&self, name: &str) -> Result<bool, StoreError> {
        vault::delete(&self.write(), name)
    }

    fn touch_credential(&self, name: &str, at: Timestamp) -> Result<(), StoreError> {
        vault::touch(&self.write(), name, at)
    }

    fn vault_key_check(&self) -> Result<Option<SealedBlob>, StoreError> {
        vault::key_check(&self.read())
    }

    fn put_vault_key_check(&self, check: &SealedBlob) -> Result<(), StoreError> {
        vault::put_key_check(&self.write(), check)
    }

    fn rotate_vault(&self, check: &SealedBlob, resealed: &[StoredCredential]) -> Result<(), StoreError> {
        vault::rotate(&mut self.write(), check, resealed)
    }

    fn add_usage(&self, rows: &[UsageRow]) -> Result<(), StoreError> {
        rows.iter().try_for_each(UsageRow::validate)?;
        usage::add(&mut self.write(), rows)
    }

    fn list_usage(&self) -> Result<Vec<UsageRow>, StoreError> {
        usage::list(&self.read())
    }
}
