//! The append-only, hash-chained audit log: one record per API call, per
//! capability call and per administrative change.
//!
//! Producers submit an [`AuditEvent`] to an [`AuditLog`], which masks secrets
//! ([`redact`]) and has the [`crate::store::Store`] append it as the next link
//! of the hash chain ([`chain`]). Nothing here touches SQL: storage lives in
//! `store`, the meaning of a record lives here. Refusals of unauthenticated
//! requests are sampled ([`sampler`]) so that nobody without a token can
//! grow the log without bound.

pub mod chain;
mod event;
mod log;
mod query;
mod record;
pub mod redact;
pub mod sampler;

#[cfg(test)]
mod tests;

pub use chain::{Anchor, BreakReason, ChainBreak, ChainReport, GENESIS_HASH, verify_chain};
pub use event::{AuditEvent, AuditKind, Decision, Outcome};
pub use log::AuditLog;
pub use query::{AuditPage, AuditQuery};
pub use record::{AuditRecord, AuditRow};
pub use redact::Redactor;
pub use sampler::{SamplingConfig, source_of};
