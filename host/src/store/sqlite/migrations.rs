//! Versioned schema migrations, tracked in SQLite's `PRAGMA user_version`.
//!
//! `MIGRATIONS[n]` takes the schema from version `n` to `n + 1`; a fresh file
//! is version 0. **To change the schema**, add a file
//! `migrations/000N_what.sql` and append it to `MIGRATIONS`; never edit or
//! reorder one that has shipped, since databases in the field already ran it.
//! Each step runs in the same `BEGIN IMMEDIATE` transaction as the version
//! bump, so a failed step leaves the file at the previous version, and two
//! processes opening one new file migrate it once.
//!
//! (`rusqlite_migration` does the same, but its releases follow newer rusqlite
//! than the workspace's 0.37; this is the few lines it would replace.)

use crate::store::StoreError;
use rusqlite::{Connection, TransactionBehavior};

/// Every schema step, oldest first.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_sessions.sql"),
    include_str!("migrations/0003_vault.sql"),
    include_str!("migrations/0004_gateway_usage.sql"),
];

/// The schema version this build writes.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Bring the database on `conn` up to [`latest_version`].
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let supported = latest_version();
    let applied = match usize::try_from(found) {
        Ok(applied) if found <= supported => applied,
        _ => return Err(StoreError::UnknownSchema { found, supported }),
    };
    for (version, step) in (found..).zip(&MIGRATIONS[applied..]) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", version + 1)?;
    }
    tx.commit()?;
    Ok(())
}
