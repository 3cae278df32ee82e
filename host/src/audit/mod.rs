//! The append-only, hash-chained audit log: one record per API call, per
//! capability call and per administrative change.

mod event;

pub use event::{AuditEvent, AuditKind, Decision, Outcome};
