//! Fixtures shared by the store and audit unit tests: a database file in a
//! temporary directory, raw access to it as an attacker with the file would
//! have, and varied sample events.

use super::SqliteStore;
use crate::ErrorCode;
use crate::audit::{AuditEvent, AuditKind, Decision, Outcome};
use rusqlite::Connection;
use std::path::PathBuf;
use tempfile::TempDir;

/// A database file that lives as long as this value.
pub(crate) struct TempDb {
    _dir: TempDir,
    pub(crate) path: PathBuf,
}

impl TempDb {
    /// A path to a database file that does not exist yet.
    pub(crate) fn new() -> TempDb {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("helmdeck.db");
        TempDb { _dir: dir, path }
    }

    /// A [`SqliteStore`] on the file (another one per call, like another process).
    pub(crate) fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path).expect("open the store")
    }

    /// A plain SQLite connection to the file, bypassing the store.
    pub(crate) fn raw(&self) -> Connection {
        Connection::open(&self.path).expect("open the file with plain SQLite")
    }
}

/// The `n`th of a series of events that differ in every field.
pub(crate) fn sample_event(n: u64) -> AuditEvent {
    AuditEvent {
        call_id: Some(format!("call-{}", n / 2)),
        session: n.is_multiple_of(3).then(|| format!("session-{n}")),
        pack: Some("http".to_owned()),
        tool: Some("fetch".to_owned()),
        version: Some("1.0.0".to_owned()),
        digest: Some("ab".repeat(32)),
        capability: Some("http".to_owned()),
        target: Some(format!("https://example.com/item/{n}")),
        decision: if n % 5 == 4 { Decision::Deny } else { Decision::Allow },
        outcome: if n % 5 == 4 { Outcome::Error(ErrorCode::EgressDenied) } else { Outcome::Ok },
        duration_us: 100 + n,
        bytes_in: n,
        bytes_out: 2 * n,
        details: Some(serde_json::json!({ "n": n, "note": "sample" })),
        ..AuditEvent::new(AuditKind::Capability, format!("agent-{}", n % 2))
    }
}
