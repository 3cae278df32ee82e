//! [`AuditLog`]: the async front door every producer of audit records uses.

use super::{Anchor, AuditEvent, AuditPage, AuditQuery, AuditRecord, ChainReport, Redactor, verify_chain};
use crate::Result;
use crate::store::{Store, run_blocking};
use std::sync::Arc;

/// Redacts, appends, searches and verifies audit records over a [`Store`].
///
/// Cheap to clone (two `Arc`s): hand a clone to every component that records.
/// Appends are serialized by the store, so clones in any number of tasks,
/// and other processes on the same database, keep one linear chain.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn Store>,
    redactor: Redactor,
}

impl AuditLog {
    /// A log over `store` that masks secrets with `redactor` (keep a clone of
    /// the redactor to register vault values into it later).
    pub fn new(store: Arc<dyn Store>, redactor: Redactor) -> AuditLog {
        AuditLog { store, redactor }
    }

    /// Redact `event` and append it to the chain; returns the stored record.
    /// Redaction runs on the calling task (it is CPU-only and short), the
    /// append on the blocking pool.
    pub async fn record(&self, mut event: AuditEvent) -> Result<AuditRecord> {
        self.redactor.redact_event(&mut event);
        run_blocking(&self.store, move |store| store.append_audit(&event)).await
    }

    /// One page of records matching `query`, newest first; `invalid_input`
    /// naming the field when `limit` or `cursor` is out of range.
    pub async fn query(&self, query: AuditQuery) -> Result<AuditPage> {
        run_blocking(&self.store, move |store| store.query_audit(&query)).await
    }

    /// Walk the whole chain and report the first broken record, if any;
    /// with `anchor`, the log must also still reach that record unchanged.
    pub async fn verify(&self, anchor: Option<Anchor>) -> Result<ChainReport> {
        run_blocking(&self.store, move |store| verify_chain(store, anchor.as_ref())).await
    }
}
