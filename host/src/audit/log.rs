//! [`AuditLog`]: the async front door every producer of audit records uses.

use super::sampler::{Sampler, SamplingConfig};
use super::{Anchor, AuditEvent, AuditPage, AuditQuery, AuditRecord, ChainReport, Redactor, verify_chain};
use crate::Result;
use crate::store::{Store, run_blocking};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Redacts, appends, searches and verifies audit records over a [`Store`].
///
/// Cheap to clone (three `Arc`s): hand a clone to every component that records.
/// Appends are serialized by the store, so clones in any number of tasks,
/// and other processes on the same database, keep one linear chain.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn Store>,
    redactor: Redactor,
    unauthenticated: Arc<Sampler>,
}

impl AuditLog {
    /// A log over `store` that masks secrets with `redactor` (keep a clone of
    /// the redactor to register vault values into it later), sampling
    /// unauthenticated refusals with the default [`SamplingConfig`].
    pub fn new(store: Arc<dyn Store>, redactor: Redactor) -> AuditLog {
        AuditLog::with_sampling(store, redactor, SamplingConfig::default())
    }

    /// [`AuditLog::new`] with a chosen sampling of unauthenticated refusals.
    pub fn with_sampling(store: Arc<dyn Store>, redactor: Redactor, sampling: SamplingConfig) -> AuditLog {
        AuditLog { store, redactor, unauthenticated: Arc::new(Sampler::new(sampling)) }
    }

    /// Record a request refused before anyone was authenticated (no or a bad
    /// token, a bad signed link, a refused MCP `Host`), bounded per `source`
    /// and window (see [`super::sampler`]): the event is appended in full,
    /// or only counted into its window's summary record.
    pub async fn record_unauthenticated(&self, source: &str, event: AuditEvent) -> Result<()> {
        let (closed, kept) = self.unauthenticated.admit(source, event);
        for summary in closed.into_iter().chain(kept) {
            self.record(summary).await?;
        }
        Ok(())
    }

    /// Write the summaries of the unauthenticated refusals counted so far
    /// (at shutdown: the last window's counts would be lost otherwise).
    pub async fn flush_unauthenticated(&self) -> Result<()> {
        for summary in self.unauthenticated.flush(true) {
            self.record(summary).await?;
        }
        Ok(())
    }

    /// Until `stop` is cancelled, write each window's summaries of
    /// unauthenticated refusals when the window ends, so an operator sees
    /// the counts of a burst that stopped; `serve` runs this.
    pub async fn sweep(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.unauthenticated.window());
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {
                    for summary in self.unauthenticated.flush(false) {
                        if let Err(e) = self.record(summary).await {
                            tracing::error!(error = %e, "audit record failed");
                        }
                    }
                }
            }
        }
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
