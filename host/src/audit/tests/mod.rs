//! Behaviour of the audit log against real SQLite files.

mod chain;
mod log;
mod query;
mod redact;

use crate::audit::AuditRecord;
use crate::store::testing::sample_event;
use crate::store::{SqliteStore, Store};

/// Append `count` sample events numbered from `first`; the stored records.
fn append_samples(store: &SqliteStore, first: u64, count: u64) -> Vec<AuditRecord> {
    (first..first + count).map(|n| store.append_audit(&sample_event(n)).unwrap()).collect()
}
